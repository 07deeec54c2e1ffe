//! Per-pod tuning from `agentnet.dev/*` annotations: the pod's own, else its
//! namespace's, else the webhook's defaults. A value that does not parse rejects the
//! pod with a message naming the annotation, the value and what is accepted; it is
//! never silently replaced by a default.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use agentnet_api::contract::annotation as key;

use super::quantity::Quantity;
use crate::config::SidecarConfig;
use values::{
    ACCEPT_ACTION, ACCEPT_CAPTURE, ACCEPT_CIDRS, ACCEPT_HOSTS, ACCEPT_INBOUND_BACKEND,
    ACCEPT_LIFETIME, ACCEPT_LOG, ACCEPT_PORT, ACCEPT_PORTS, ACCEPT_QUANTITY, parse_cidrs,
    parse_hosts, parse_inbound_backend, parse_port, parse_ports,
};

mod values;

pub use values::{CaptureMode, DefaultAction, LogLevel, parse_cert_lifetime};

/// The sidecar's tunable settings for one pod.
#[derive(Clone, Debug, PartialEq)]
pub struct Tuning {
    pub log_level: LogLevel,
    pub outbound_default: DefaultAction,
    pub backend_default: DefaultAction,
    pub exclude_outbound_hosts: Vec<String>,
    pub exclude_outbound_ports: Vec<u16>,
    pub exclude_outbound_cidrs: Vec<ipnet::IpNet>,
    pub capture: CaptureMode,
    pub cert_lifetime: Duration,
    pub resources: ProxyResources,
    /// Where calls from other agents (inbound mTLS) are decided and delivered.
    pub inbound: Option<Inbound>,
}

/// The pod's inbound policy backend (`namespace/name`) and app port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    pub backend: String,
    pub port: u16,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProxyResources {
    pub cpu_request: Option<Quantity>,
    pub cpu_limit: Option<Quantity>,
    pub memory_request: Option<Quantity>,
    pub memory_limit: Option<Quantity>,
}

/// Where an annotation was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Pod,
    Namespace(String),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TuningError {
    #[error("invalid {origin} annotation {key}={value:?}: accepted values are {accepted}")]
    Invalid {
        origin: Origin,
        key: &'static str,
        value: String,
        accepted: &'static str,
    },
    #[error(
        "pod annotations {} and {} go together: set both or neither",
        key::INBOUND_BACKEND,
        key::INBOUND_PORT
    )]
    InboundPair,
    #[error(
        "proxy {resource} request {request} exceeds its limit {limit} (annotations {request_key} and {limit_key})"
    )]
    RequestAboveLimit {
        resource: &'static str,
        request: String,
        limit: String,
        request_key: &'static str,
        limit_key: &'static str,
    },
}

/// Every `agentnet.dev/` pod annotation the webhook understands or writes.
pub const KNOWN: &[&str] = &[
    key::LOG_LEVEL,
    key::OUTBOUND_DEFAULT,
    key::BACKEND_DEFAULT,
    key::EXCLUDE_OUTBOUND_HOSTS,
    key::EXCLUDE_OUTBOUND_PORTS,
    key::EXCLUDE_OUTBOUND_CIDRS,
    key::CAPTURE,
    key::CERT_LIFETIME,
    key::PROXY_CPU_REQUEST,
    key::PROXY_CPU_LIMIT,
    key::PROXY_MEMORY_REQUEST,
    key::PROXY_MEMORY_LIMIT,
    key::INBOUND_BACKEND,
    key::INBOUND_PORT,
    key::INJECTED,
    key::SIDECAR_VERSION,
];

type Annotations = BTreeMap<String, String>;

/// Annotations of a pod and of its namespace, looked up in that order.
struct Lookup<'a> {
    pod: &'a Annotations,
    namespace: &'a str,
    ns: &'a Annotations,
}

// === impl Origin ===

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pod => f.write_str("pod"),
            Self::Namespace(ns) => write!(f, "namespace {ns}"),
        }
    }
}

// === impl Tuning ===

impl Tuning {
    /// The webhook-wide defaults.
    pub fn defaults(config: &SidecarConfig) -> Self {
        Self {
            log_level: config.sidecar_log_level.clone(),
            outbound_default: config.outbound_default,
            backend_default: config.backend_default,
            exclude_outbound_hosts: Vec::new(),
            exclude_outbound_ports: Vec::new(),
            exclude_outbound_cidrs: Vec::new(),
            capture: config.capture,
            cert_lifetime: config.cert_lifetime,
            resources: ProxyResources {
                cpu_request: config.proxy_cpu_request.clone(),
                cpu_limit: config.proxy_cpu_limit.clone(),
                memory_request: config.proxy_memory_request.clone(),
                memory_limit: config.proxy_memory_limit.clone(),
            },
            inbound: None,
        }
    }

    /// Applies the namespace's and then the pod's annotations over `self`.
    pub fn resolve(
        &self,
        pod: &Annotations,
        namespace: &str,
        ns: &Annotations,
    ) -> Result<Self, TuningError> {
        let at = Lookup { pod, namespace, ns };
        let log = at.get(key::LOG_LEVEL, ACCEPT_LOG, |v| v.parse().ok())?;
        let outbound = at.get(key::OUTBOUND_DEFAULT, ACCEPT_ACTION, DefaultAction::parse)?;
        let backend = at.get(key::BACKEND_DEFAULT, ACCEPT_ACTION, DefaultAction::parse)?;
        let hosts = at.get(key::EXCLUDE_OUTBOUND_HOSTS, ACCEPT_HOSTS, parse_hosts)?;
        let ports = at.get(key::EXCLUDE_OUTBOUND_PORTS, ACCEPT_PORTS, parse_ports)?;
        let cidrs = at.get(key::EXCLUDE_OUTBOUND_CIDRS, ACCEPT_CIDRS, parse_cidrs)?;
        let capture = at.get(key::CAPTURE, ACCEPT_CAPTURE, CaptureMode::parse)?;
        let lifetime = at.get(key::CERT_LIFETIME, ACCEPT_LIFETIME, |v| {
            parse_cert_lifetime(v).ok()
        })?;
        Ok(Self {
            log_level: log.unwrap_or_else(|| self.log_level.clone()),
            outbound_default: outbound.unwrap_or(self.outbound_default),
            backend_default: backend.unwrap_or(self.backend_default),
            exclude_outbound_hosts: hosts.unwrap_or_else(|| self.exclude_outbound_hosts.clone()),
            exclude_outbound_ports: ports.unwrap_or_else(|| self.exclude_outbound_ports.clone()),
            exclude_outbound_cidrs: cidrs.unwrap_or_else(|| self.exclude_outbound_cidrs.clone()),
            capture: capture.unwrap_or(self.capture),
            cert_lifetime: lifetime.unwrap_or(self.cert_lifetime),
            resources: self.resources.resolve(&at)?,
            inbound: inbound(pod, namespace)?,
        })
    }
}

/// Inbound settings name this pod's own backend and port, so only the pod's
/// annotations count (a namespace-wide value would be wrong for all but one pod).
fn inbound(pod: &Annotations, namespace: &str) -> Result<Option<Inbound>, TuningError> {
    let no_ns = Annotations::new();
    let at = Lookup {
        pod,
        namespace,
        ns: &no_ns,
    };
    let backend = at.get(key::INBOUND_BACKEND, ACCEPT_INBOUND_BACKEND, |v| {
        parse_inbound_backend(v, namespace)
    })?;
    let port = at.get(key::INBOUND_PORT, ACCEPT_PORT, parse_port)?;
    match (backend, port) {
        (Some(backend), Some(port)) => Ok(Some(Inbound { backend, port })),
        (None, None) => Ok(None),
        _ => Err(TuningError::InboundPair),
    }
}

// === impl ProxyResources ===

impl ProxyResources {
    fn resolve(&self, at: &Lookup<'_>) -> Result<Self, TuningError> {
        let q = |k: &'static str, default: &Option<Quantity>| {
            Ok::<_, TuningError>(
                at.get(k, ACCEPT_QUANTITY, |v| v.parse().ok())?
                    .or_else(|| default.clone()),
            )
        };
        let resolved = Self {
            cpu_request: q(key::PROXY_CPU_REQUEST, &self.cpu_request)?,
            cpu_limit: q(key::PROXY_CPU_LIMIT, &self.cpu_limit)?,
            memory_request: q(key::PROXY_MEMORY_REQUEST, &self.memory_request)?,
            memory_limit: q(key::PROXY_MEMORY_LIMIT, &self.memory_limit)?,
        };
        resolved.check()?;
        Ok(resolved)
    }

    /// The API server refuses a request above its limit; say so in our words.
    fn check(&self) -> Result<(), TuningError> {
        let (cpu, mem) = (key::PROXY_CPU_REQUEST, key::PROXY_MEMORY_REQUEST);
        check_pair(
            "cpu",
            &self.cpu_request,
            &self.cpu_limit,
            cpu,
            key::PROXY_CPU_LIMIT,
        )?;
        check_pair(
            "memory",
            &self.memory_request,
            &self.memory_limit,
            mem,
            key::PROXY_MEMORY_LIMIT,
        )
    }
}

fn check_pair(
    resource: &'static str,
    request: &Option<Quantity>,
    limit: &Option<Quantity>,
    request_key: &'static str,
    limit_key: &'static str,
) -> Result<(), TuningError> {
    match (request, limit) {
        (Some(r), Some(l)) if r.value() > l.value() => Err(TuningError::RequestAboveLimit {
            resource,
            request: r.to_string(),
            limit: l.to_string(),
            request_key,
            limit_key,
        }),
        _ => Ok(()),
    }
}

// === impl Lookup ===

impl Lookup<'_> {
    /// The pod's value for `key`, else the namespace's, parsed; `None` if neither has it.
    fn get<T>(
        &self,
        key: &'static str,
        accepted: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, TuningError> {
        let (origin, value) = match (self.pod.get(key), self.ns.get(key)) {
            (Some(v), _) => (Origin::Pod, v),
            (None, Some(v)) => (Origin::Namespace(self.namespace.to_owned()), v),
            (None, None) => return Ok(None),
        };
        match parse(value.trim()) {
            Some(parsed) => Ok(Some(parsed)),
            None => Err(TuningError::Invalid {
                origin,
                key,
                value: value.clone(),
                accepted,
            }),
        }
    }
}

/// The pod's `agentnet.dev/` annotations this version does not know. They are
/// ignored and warned about, not refused: a manifest written for a newer version, or a
/// webhook rolled back, must not stop pods from being created (invalid values of known
/// annotations still are refused).
pub fn unknown(pod: &Annotations) -> Vec<String> {
    pod.keys()
        .filter(|k| k.starts_with("agentnet.dev/") && !KNOWN.contains(&k.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
