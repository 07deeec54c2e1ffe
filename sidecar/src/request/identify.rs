//! identify: which XBackend a request goes to, or whether it passes through as a
//! destination no XBackend claims. Pure: the target, the index and the settings.

use agentnet_policy::{Backend, Destination, HttpRequest, Index};

use crate::config::OutboundDefault;
use crate::request::destination::{Target, upstream_path};

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
    Backend(BackendRoute<'i>),
    /// Forwarded (or tunnelled) unchanged, without policy.
    Passthrough(PassthroughRoute),
}

#[derive(Debug)]
pub struct PassthroughRoute {
    pub authority: String,
    pub why: Passthrough,
}

#[derive(Debug)]
pub struct BackendRoute<'i> {
    pub backend: &'i Backend,
    /// The authority the request addressed, or for `/backends/` the backend's own.
    pub authority: String,
    /// Path and query as the upstream server sees them.
    pub path: String,
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
}

/// Routes `target`; absolute and CONNECT requests to an excluded port pass through
/// before any lookup, `/backends/` requests always name their backend.
pub fn route<'i>(
    target: &Target,
    index: &'i Index,
    routing: &Routing,
) -> Result<Route<'i>, RouteError> {
    let (authority, path) = match target {
        Target::Named {
            namespace,
            name,
            rest,
        } => return named(index, (namespace, name), rest),
        Target::Absolute { authority, path } => (authority, path.as_str()),
        Target::Connect { authority } => (authority, "/"),
    };
    let (host, port) = host_port(authority)?;
    if routing.excluded_ports.contains(&port) {
        return Ok(Route::pass(authority, Passthrough::ExcludedPort));
    }
    if let Some(backend) = index.resolve(&host, port, &routing.caller_namespace) {
        let route = BackendRoute::new(backend, authority.clone(), path.to_owned());
        return Ok(Route::Backend(route));
    }
    match routing.outbound_default {
        OutboundDefault::Allow => Ok(Route::pass(authority, Passthrough::OutboundAllow)),
        OutboundDefault::Deny => Err(RouteError::OutboundDenied(authority.clone())),
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
    Ok(Route::Backend(BackendRoute::new(backend, authority, path)))
}

// === impl Route ===

impl Route<'_> {
    fn pass(authority: &str, why: Passthrough) -> Self {
        Route::Passthrough(PassthroughRoute {
            authority: authority.to_owned(),
            why,
        })
    }
}

// === impl BackendRoute ===

impl<'i> BackendRoute<'i> {
    fn new(backend: &'i Backend, authority: String, path: String) -> Self {
        BackendRoute {
            backend,
            authority,
            path,
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

/// Lower-case host and port (80 when absent) of an authority.
pub fn host_port(authority: &str) -> Result<(String, u16), RouteError> {
    let facts = HttpRequest::new("GET", "/", authority, 80)
        .map_err(|_| RouteError::Authority(authority.to_owned()))?;
    Ok((facts.host, facts.port))
}

#[cfg(test)]
mod tests;
