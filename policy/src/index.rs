//! The immutable index: backends by name and by destination, each with its accepted
//! policies in upstream's order, the CEL engine, the status report and a generation.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::authority::{Authority, Host};
use crate::cel::{CelEngine, Needs};
use crate::compile::Settings;
use crate::ratelimit::RateLimit;
use crate::report::Report;
use crate::request::BackendRef;
use crate::rule::{Policy, PolicyRef};

/// Compiled XBackends and XAccessPolicies. Build one with [`crate::compile`]; share it
/// behind an `Arc` (it is `Send + Sync`), never mutate it.
#[derive(Debug)]
pub struct Index {
    pub(crate) backends: Vec<Backend>,
    pub(crate) by_name: HashMap<BackendRef, usize>,
    /// `(host, port)`: Service FQDNs and cluster IPs, external hostnames.
    pub(crate) by_authority: HashMap<(String, u16), usize>,
    /// Addresses a connection may be sent to: Services' cluster IPs with the Service
    /// port, and their endpoints with the target port. One owned by two backends is
    /// ambiguous (`None`), and never treated as no backend's.
    pub(crate) by_address: HashMap<SocketAddr, Option<usize>>,
    pub(crate) cel: CelEngine,
    pub(crate) settings: Settings,
    pub(crate) report: Report,
    pub(crate) generation: u64,
}

/// One XBackend: where it is, what it speaks, and the policies that govern it.
#[derive(Debug)]
pub struct Backend {
    pub(crate) id: BackendRef,
    pub(crate) protocol: Protocol,
    pub(crate) path: String,
    pub(crate) destination: Option<Destination>,
    /// Accepted policies: ExternalAuth first, then by creationTimestamp, then by name.
    pub(crate) policies: Vec<Arc<Policy>>,
    /// Policies naming this backend that were not accepted: it fails closed.
    pub(crate) rejected: Vec<PolicyRef>,
    /// Why the XBackend itself is not accepted: every request to it is denied.
    pub(crate) invalid: Option<String>,
    /// The CEL variables its rules read.
    pub(crate) cel_needs: Needs,
    /// Limits of accepted RateLimitPolicies, in policy then spec order.
    pub(crate) rate_limits: Vec<Arc<RateLimit>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Mcp,
    A2a,
}

/// What an address or name is, to the index.
#[derive(Clone, Copy, Debug)]
pub enum Lookup<'i> {
    Backend(&'i Backend),
    /// It belongs to more than one backend: requests to it are refused.
    Ambiguous,
    /// No backend's.
    None,
}

/// Where to send a backend's traffic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Destination {
    /// A Service in the backend's namespace, with the ready endpoints of its port.
    Service {
        namespace: String,
        name: String,
        fqdn: String,
        port: u16,
        cluster_ip: Option<String>,
        endpoints: Vec<Endpoint>,
    },
    /// An external host, reached with TLS.
    External { hostname: String, port: u16 },
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Endpoint {
    pub address: String,
    pub port: u16,
}

const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Index>();
};

// === impl Index ===

impl Index {
    /// The backend a `host:port` names. Service names may take any DNS form (`svc`,
    /// `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<cluster-domain>`); the short ones are
    /// relative to the caller's namespace, as the caller's resolver would make them.
    pub fn resolve(&self, host: &str, port: u16, caller_namespace: &str) -> Option<&Backend> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let lookup = |h: &str| {
            self.by_authority
                .get(&(h.to_owned(), port))
                .map(|i| &self.backends[*i])
        };
        if let Some(b) = lookup(&host) {
            return Some(b);
        }
        let domain = &self.settings.cluster_domain;
        let labels: Vec<&str> = host.split('.').collect();
        let fqdn = match labels.as_slice() {
            [svc] => format!("{svc}.{caller_namespace}.svc.{domain}"),
            [svc, ns] | [svc, ns, "svc"] => format!("{svc}.{ns}.svc.{domain}"),
            _ => return None,
        };
        lookup(&fqdn)
    }

    /// The backend a canonical authority names: by address (a Service's cluster IP, or
    /// any of its endpoints) for an IP, by name otherwise.
    pub fn lookup(&self, authority: &Authority, caller_namespace: &str) -> Lookup<'_> {
        match &authority.host {
            Host::Ip(ip) => self.at(SocketAddr::new(*ip, authority.port)),
            Host::Name(name) => match self.resolve(name, authority.port, caller_namespace) {
                Some(b) => Lookup::Backend(b),
                None => Lookup::None,
            },
        }
    }

    /// The backend whose Service has `addr` as its cluster IP and port, or as one of its
    /// endpoints.
    pub fn at(&self, addr: SocketAddr) -> Lookup<'_> {
        match self.by_address.get(&addr) {
            Some(Some(i)) => Lookup::Backend(&self.backends[*i]),
            Some(None) => Lookup::Ambiguous,
            None => Lookup::None,
        }
    }

    /// The backend by namespace and name, as in origin-form `/backends/<ns>/<name>/`.
    pub fn backend(&self, namespace: &str, name: &str) -> Option<&Backend> {
        let key = BackendRef::new(namespace, name);
        self.by_name.get(&key).map(|i| &self.backends[*i])
    }

    pub fn backends(&self) -> impl Iterator<Item = &Backend> {
        self.backends.iter()
    }

    /// What a status writer needs: per policy and target, per backend.
    pub fn report(&self) -> &Report {
        &self.report
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The publisher's counter, so audits and `/config` can name the index they used.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn with_generation(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
    }
}

// === impl Backend ===

impl Backend {
    pub fn id(&self) -> &BackendRef {
        &self.id
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The MCP endpoint (default `/mcp`) or A2A JSON-RPC path (default `/`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `None` only for an XBackend too broken to say where it is.
    pub fn destination(&self) -> Option<&Destination> {
        self.destination.as_ref()
    }

    /// Why the XBackend is not accepted, if it is not (all requests are then denied).
    pub fn invalid(&self) -> Option<&str> {
        self.invalid.as_deref()
    }

    /// The rate limits a request to this backend may count against.
    pub fn rate_limits(&self) -> &[Arc<RateLimit>] {
        &self.rate_limits
    }

    /// Accepted policies in evaluation order.
    pub fn policies(&self) -> impl Iterator<Item = &PolicyRef> {
        self.policies.iter().map(|p| &p.id)
    }

    /// Whether a decision may depend on more than source and destination (MCP or A2A
    /// methods, paths, headers, CEL, an external authorizer): a CONNECT tunnel would
    /// hide what it needs, so the sidecar refuses tunnels to such backends.
    pub fn has_tool_rules(&self) -> bool {
        self.policies
            .iter()
            .any(|p| p.external_auth.is_some() || p.rules.iter().any(|r| r.needs_inspection()))
    }
}

/// The index as the sidecar's `/config` shows it: settings, generation, each backend
/// with its destination and policies in evaluation order, and the status report.
impl Serialize for Index {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            generation: u64,
            settings: &'a Settings,
            backends: Vec<BackendView<'a>>,
            report: &'a Report,
        }
        let backends = self.backends.iter().map(BackendView::from).collect();
        View {
            generation: self.generation,
            settings: &self.settings,
            backends,
            report: &self.report,
        }
        .serialize(serializer)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BackendView<'a> {
    backend: &'a BackendRef,
    protocol: Protocol,
    path: &'a str,
    destination: Option<&'a Destination>,
    invalid: Option<&'a str>,
    policies: Vec<&'a PolicyRef>,
    rejected: &'a [PolicyRef],
    has_tool_rules: bool,
    rate_limits: Vec<&'a RateLimit>,
}

impl<'a> From<&'a Backend> for BackendView<'a> {
    fn from(b: &'a Backend) -> Self {
        BackendView {
            backend: &b.id,
            protocol: b.protocol,
            path: &b.path,
            destination: b.destination.as_ref(),
            invalid: b.invalid.as_deref(),
            policies: b.policies().collect(),
            rejected: &b.rejected,
            has_tool_rules: b.has_tool_rules(),
            rate_limits: b.rate_limits.iter().map(|r| &**r).collect(),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Mcp => "MCP",
            Protocol::A2a => "A2A",
        })
    }
}
