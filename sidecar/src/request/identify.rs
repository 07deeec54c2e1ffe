//! identify: which XBackend a request goes to, or whether it passes through as a
//! destination no XBackend claims. Pure: the target, the index and the settings.
//!
//! Every authority is read once, canonically (`agentnet_policy::authority`: userinfo
//! dropped, any numeric IPv4 spelling made a dotted quad, case and trailing dots
//! removed), before the lookup; an IP is looked up by address, so a Service's cluster IP
//! and every one of its endpoints are that Service's backend. An address two backends
//! claim is refused, never treated as no backend's.

use std::net::SocketAddr;

use agentnet_policy::authority::{self, Authority};
use agentnet_policy::{Backend, Destination, Index, Lookup, Source};

use crate::config::OutboundDefault;
use crate::request::destination::{Target, upstream_path};
use crate::request::forward::Upstream;

/// What the outbound settings say about destinations.
#[derive(Clone, Debug)]
pub struct Routing {
    /// Short Service names resolve in the caller's namespace.
    pub caller_namespace: String,
    pub outbound_default: OutboundDefault,
    pub excluded_ports: Vec<u16>,
}

#[derive(Debug)]
pub enum Route<'i> {
    Backend(BackendTarget<'i>),
    /// Forwarded (or tunnelled) unchanged, without policy.
    Passthrough(PassthroughRoute),
}

#[derive(Debug)]
pub struct PassthroughRoute {
    /// Where the connection goes: the canonical authority, or a captured connection's
    /// original destination.
    pub authority: String,
    pub why: Passthrough,
    /// A captured request: it keeps its own Host (only where it was going counts).
    pub captured: bool,
}

/// The backend a request names, as `identify` finds it.
#[derive(Debug)]
pub struct BackendTarget<'i> {
    pub backend: &'i Backend,
    /// The canonical authority the request addressed, or for `/backends/` (and a
    /// captured request without a usable Host) the backend's own.
    pub authority: String,
    /// Path and query as the upstream server sees them.
    pub path: String,
}

/// A request on its way to a backend: everything the later stages need, as fields.
#[derive(Debug)]
pub struct BackendRoute<'i> {
    pub backend: &'i Backend,
    pub authority: String,
    pub path: String,
    /// Who is calling: this sidecar's agent, or an inbound caller's verified identity.
    pub caller: Source,
    /// Where the request goes.
    pub upstream: Upstream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passthrough {
    ExcludedPort,
    OutboundAllow,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no XBackend {0}")]
    UnknownBackend(String),
    #[error(
        "{0} is not an XBackend and the outbound default \
         (--outbound-default / agentnet.dev/outbound-default) is deny"
    )]
    OutboundDenied(String),
    #[error("invalid authority {0:?}")]
    Authority(String),
    #[error("XBackend {0} has no address")]
    NoAddress(String),
    #[error("{0} belongs to more than one XBackend; requests to it are refused")]
    Ambiguous(String),
    #[error(
        "the request names {named} in its Host, but its connection goes to {to}, \
         which is XBackend {backend}; refused as ambiguous"
    )]
    HostMismatch {
        named: String,
        to: SocketAddr,
        backend: String,
    },
}

/// Routes `target`; requests to an excluded port pass through before any lookup,
/// `/backends/` requests always name their backend.
pub fn route<'i>(
    target: &Target,
    index: &'i Index,
    routing: &Routing,
) -> Result<Route<'i>, RouteError> {
    match target {
        Target::Named {
            namespace,
            name,
            rest,
        } => named(index, (namespace, name), rest),
        Target::Absolute { authority, path } => by_authority(authority, path, index, routing),
        Target::Connect { authority } => by_authority(authority, "/", index, routing),
        Target::Captured { to, host, path } => captured(*to, host.as_deref(), path, index, routing),
    }
}

fn by_authority<'i>(
    authority: &str,
    path: &str,
    index: &'i Index,
    routing: &Routing,
) -> Result<Route<'i>, RouteError> {
    let canonical = canonical(authority)?;
    if routing.excluded_ports.contains(&canonical.port) {
        return Ok(Route::pass(
            canonical.to_string(),
            Passthrough::ExcludedPort,
        ));
    }
    match index.lookup(&canonical, &routing.caller_namespace) {
        Lookup::Backend(backend) => Ok(Route::Backend(BackendTarget {
            backend,
            authority: canonical.to_string(),
            path: path.to_owned(),
        })),
        Lookup::Ambiguous => Err(RouteError::Ambiguous(canonical.to_string())),
        Lookup::None => outbound_default(canonical.to_string(), routing),
    }
}

/// A connection the capture rules redirected: its original destination decides; a Host
/// that names an external (`hostname`) backend decides for addresses no backend owns,
/// because the sidecar sends such requests to that host itself, never to the address.
fn captured<'i>(
    to: SocketAddr,
    host: Option<&str>,
    path: &str,
    index: &'i Index,
    routing: &Routing,
) -> Result<Route<'i>, RouteError> {
    let named = host
        .map(|h| canonical_with_port(h, to.port()))
        .transpose()?;
    match index.at(to) {
        Lookup::Backend(backend) => {
            let authority = match &named {
                Some(n) => agrees(n, backend, index, routing, to)?,
                None => None,
            };
            let authority = authority.or_else(|| backend_authority(backend));
            let no_address = || RouteError::NoAddress(backend.id().to_string());
            Ok(Route::Backend(BackendTarget {
                backend,
                authority: authority.ok_or_else(no_address)?,
                path: path.to_owned(),
            }))
        }
        Lookup::Ambiguous => Err(RouteError::Ambiguous(to.to_string())),
        Lookup::None => {
            if let Some(n) = &named
                && let Lookup::Backend(backend) = index.lookup(n, &routing.caller_namespace)
                && matches!(backend.destination(), Some(Destination::External { .. }))
            {
                return Ok(Route::Backend(BackendTarget {
                    backend,
                    authority: n.to_string(),
                    path: path.to_owned(),
                }));
            }
            match outbound_default(to.to_string(), routing)? {
                Route::Passthrough(pass) => Ok(Route::Passthrough(PassthroughRoute {
                    captured: true,
                    ..pass
                })),
                backend => Ok(backend),
            }
        }
    }
}

/// The Host of a captured request to `backend`'s address, if it names that same backend
/// (or nothing the index knows); another backend's name is refused.
fn agrees(
    named: &Authority,
    backend: &Backend,
    index: &Index,
    routing: &Routing,
    to: SocketAddr,
) -> Result<Option<String>, RouteError> {
    match index.lookup(named, &routing.caller_namespace) {
        Lookup::Backend(b) if b.id() == backend.id() => Ok(Some(named.to_string())),
        Lookup::None => Ok(None),
        _ => Err(RouteError::HostMismatch {
            named: named.to_string(),
            to,
            backend: backend.id().to_string(),
        }),
    }
}

fn outbound_default<'i>(authority: String, routing: &Routing) -> Result<Route<'i>, RouteError> {
    match routing.outbound_default {
        OutboundDefault::Allow => Ok(Route::pass(authority, Passthrough::OutboundAllow)),
        OutboundDefault::Deny => Err(RouteError::OutboundDenied(authority)),
    }
}

fn named<'i>(
    index: &'i Index,
    (ns, name): (&str, &str),
    rest: &str,
) -> Result<Route<'i>, RouteError> {
    let unknown = || RouteError::UnknownBackend(format!("{ns}/{name}"));
    let backend = index.backend(ns, name).ok_or_else(unknown)?;
    let no_address = || RouteError::NoAddress(backend.id().to_string());
    let authority = backend_authority(backend).ok_or_else(no_address)?;
    let path = upstream_path(rest, backend.path());
    Ok(Route::Backend(BackendTarget {
        backend,
        authority,
        path,
    }))
}

/// The canonical form of a request's authority (port 80 when it names none).
pub fn canonical(authority: &str) -> Result<Authority, RouteError> {
    authority::parse(authority, 80).map_err(|_| RouteError::Authority(authority.to_owned()))
}

/// A Host header's authority, its port defaulting to the connection's.
fn canonical_with_port(host: &str, port: u16) -> Result<Authority, RouteError> {
    authority::parse(host, port).map_err(|_| RouteError::Authority(host.to_owned()))
}

// === impl Route ===

impl Route<'_> {
    fn pass(authority: String, why: Passthrough) -> Self {
        Route::Passthrough(PassthroughRoute {
            authority,
            why,
            captured: false,
        })
    }
}

// === impl BackendRoute ===

impl<'i> BackendRoute<'i> {
    /// The target as `caller` sends it to `upstream`.
    pub fn new(target: BackendTarget<'i>, caller: Source, upstream: Upstream) -> Self {
        let BackendTarget {
            backend,
            authority,
            path,
        } = target;
        BackendRoute {
            backend,
            authority,
            path,
            caller,
            upstream,
        }
    }
}

/// `host:port` of a backend as callers would address it.
pub fn backend_authority(backend: &Backend) -> Option<String> {
    match backend.destination()? {
        Destination::Service { fqdn, port, .. } => Some(format!("{fqdn}:{port}")),
        Destination::External { hostname, port } => Some(format!("{hostname}:{port}")),
    }
}

#[cfg(test)]
mod tests;
