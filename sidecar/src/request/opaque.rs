//! A captured connection the sidecar does not read as HTTP: TLS (known by its SNI) or
//! anything else. Only a host-level decision is possible, as for CONNECT tunnels: a
//! backend whose policies look inside requests refuses it and says why (audited); a
//! backend reached over mTLS through its peer sidecar refuses it; other backends are
//! decided by who is calling; destinations that are no XBackend follow the outbound
//! default. An allowed connection is spliced, unchanged, to its original destination.

use std::net::SocketAddr;
use std::sync::Arc;

use agentnet_policy::{
    Backend, BackendRef, Destination, HttpRequest, Index, Lookup, Message, Request,
};
use tokio::net::TcpStream;

use crate::config::OutboundDefault;
use crate::request::audit::Record;
use crate::request::connect;
use crate::request::identify::{Passthrough, RouteError, canonical};
use crate::request::pipeline::synced_index;
use crate::request::proxy::Proxy;
use crate::request::respond::ProxyError;

/// What the first bytes showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A TLS ClientHello, with the server name it asks for.
    Tls { sni: Option<String> },
    /// Anything else (or nothing within the detection timeout).
    Opaque,
}

/// Decides `client`'s connection to `to` and splices it there, or closes it.
pub async fn handle(proxy: Arc<Proxy>, client: TcpStream, to: SocketAddr, seen: Seen) {
    let mut audit = Record::new(proxy.identity.label(), proxy.metrics.clone(), proxy.audit);
    audit.protocol = match seen {
        Seen::Tls { .. } => "tls",
        Seen::Opaque => "tcp",
    };
    if let Err(e) = decide(&proxy, to, &seen, &mut audit) {
        audit.failed(&e);
        if audit.decision.is_none() {
            audit.denied(None, None, e.to_string());
        }
        tracing::debug!(%to, error = %e, "captured connection refused");
        return;
    }
    match connect::connect(&to.to_string(), proxy.limits.connect_timeout).await {
        Ok(upstream) => {
            drop(audit);
            connect::splice_streams(&proxy.tunnels, client, upstream).await;
        }
        Err(e) => {
            audit.failed(&e);
            tracing::debug!(%to, error = %e, "captured connection: upstream unreachable");
        }
    }
}

/// `Ok` when the connection may go to `to`; the audit record says why either way.
fn decide(
    proxy: &Proxy,
    to: SocketAddr,
    seen: &Seen,
    audit: &mut Record,
) -> Result<(), ProxyError> {
    let index = synced_index(proxy, audit)?;
    let sni = match seen {
        Seen::Tls { sni: Some(name) } => Some(name.as_str()),
        _ => None,
    };
    let backend = match index.at(to) {
        Lookup::Backend(b) => Some(b),
        Lookup::Ambiguous => return Err(RouteError::Ambiguous(to.to_string()).into()),
        Lookup::None => sni.and_then(|name| external_backend(&index, name, to.port(), proxy)),
    };
    let Some(backend) = backend else {
        let destination = sni.map_or_else(|| to.to_string(), |name| format!("{name} at {to}"));
        return match proxy.routing.outbound_default {
            OutboundDefault::Allow => {
                let protocol = audit.protocol;
                audit.passthrough(
                    &destination,
                    &http::Method::CONNECT,
                    Passthrough::OutboundAllow,
                );
                (audit.protocol, audit.method) = (protocol, Some(protocol.to_uppercase()));
                Ok(())
            }
            OutboundDefault::Deny => Err(RouteError::OutboundDenied(destination).into()),
        };
    };
    audit.route(backend);
    audit.method = Some(audit.protocol.to_uppercase());
    if let Some(reason) = refusal(proxy, backend, audit.protocol) {
        let policies: Vec<String> = backend.policies().map(ToString::to_string).collect();
        let policy = (!policies.is_empty()).then(|| policies.join(", "));
        audit.denied(policy, None, reason.clone());
        return Err(ProxyError::BadRequest(reason));
    }
    let decision = index.decide(&request(proxy, backend, to, sni)?);
    audit.decided(&decision);
    match decision.is_allowed() && decision.external_auth.is_none() {
        true => Ok(()),
        false => Err(ProxyError::BadRequest(decision.reason())),
    }
}

/// An external (`hostname`) backend the SNI names on this port.
fn external_backend<'i>(
    index: &'i Index,
    sni: &str,
    port: u16,
    proxy: &Proxy,
) -> Option<&'i Backend> {
    let authority = canonical(&format!("{sni}:{port}")).ok()?;
    match index.lookup(&authority, &proxy.routing.caller_namespace) {
        Lookup::Backend(b) if matches!(b.destination(), Some(Destination::External { .. })) => {
            Some(b)
        }
        _ => None,
    }
}

/// Why a connection to `backend` that the sidecar cannot read must not pass.
fn refusal(proxy: &Proxy, backend: &Backend, protocol: &str) -> Option<String> {
    let id = backend.id();
    let what = match protocol {
        "tls" => "a TLS connection",
        _ => "a connection that is not HTTP",
    };
    if backend.has_tool_rules() || !backend.rate_limits().is_empty() {
        return Some(format!(
            "{what} straight to XBackend {id} refused: its policies decide on what is inside \
             each request, which the sidecar cannot see here; call it with plain http:// (the \
             sidecar originates TLS to hostname backends) or through /backends/{id}/"
        ));
    }
    if proxy.forward.is_peer(backend) {
        return Some(format!(
            "{what} straight to XBackend {id} refused: its pods run an agentnet sidecar \
             reached over mTLS; call it with plain http:// and the sidecar makes the mTLS call"
        ));
    }
    None
}

/// The facts of a connection: who calls which backend, at which authority.
fn request(
    proxy: &Proxy,
    backend: &Backend,
    to: SocketAddr,
    sni: Option<&str>,
) -> Result<Request, ProxyError> {
    let authority = sni.map_or_else(|| to.to_string(), |name| format!("{name}:{}", to.port()));
    let http = HttpRequest::new("CONNECT", "/", &authority, to.port())
        .map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    let BackendRef { namespace, name } = backend.id().clone();
    Ok(Request::new(
        proxy.identity.source().clone(),
        BackendRef { namespace, name },
        http,
        Message::None,
    ))
}
