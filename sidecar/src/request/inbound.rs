//! The inbound listener (`--inbound-addr`, 0.0.0.0:15006 by default): the enforcement
//! point for callers elsewhere (peer sidecars, other mesh clients) calling this
//! workload. Only mTLS: a client must present an X.509-SVID chained to the trust bundle,
//! or the handshake fails. The caller's SPIFFE ID is the request's source, and the
//! request is decided by the policies of `--inbound-backend` (the XBackend whose Service
//! selects this pod) with the outbound path's own stages (parse, decide, forward,
//! filter, audit), then forwarded to the app at `--inbound-forward`.

use std::net::SocketAddr;
use std::sync::Arc;

use agentnet_policy::{Backend, Source};
use http::request::Parts;
use http::{Method, Request, Response, header};
use hyper::body::Incoming;

use crate::config::InboundBackend;
use crate::request::audit::Record;
use crate::request::body::ProxyBody;
use crate::request::decide::denied;
use crate::request::destination::check_path;
use crate::request::forward::Upstream;
use crate::request::identify::{BackendRoute, BackendTarget, RouteError, backend_authority};
use crate::request::pipeline;
use crate::request::proxy::Proxy;
use crate::request::respond::{Denial, ProxyError};

/// What inbound calls are decided by and where allowed ones go.
#[derive(Clone, Debug)]
pub struct InboundTarget {
    pub backend: InboundBackend,
    pub app: SocketAddr,
}

/// Serves one inbound request from `peer`; never fails (a failure is a response).
pub async fn handle(
    proxy: Arc<Proxy>,
    target: Option<Arc<InboundTarget>>,
    peer: Source,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let mut audit = Record::new(peer.to_string().into(), proxy.metrics.clone(), proxy.audit);
    audit.trace = proxy.tracer.request(req.headers());
    let response = match stages(&proxy, target.as_deref(), peer, req, &mut audit).await {
        Ok(response) => response,
        Err(e) => pipeline::failed(&mut audit, e),
    };
    audit.status = Some(response.status().as_u16());
    response
}

async fn stages(
    proxy: &Proxy,
    target: Option<&InboundTarget>,
    peer: Source,
    req: Request<Incoming>,
    audit: &mut Record,
) -> Result<Response<ProxyBody>, ProxyError> {
    let index = pipeline::synced_index(proxy, audit)?;
    let (parts, body) = req.into_parts();
    let Some(InboundTarget { backend, app }) = target else {
        return Err(refused(audit));
    };
    let InboundBackend { namespace, name } = backend;
    let unknown = || RouteError::UnknownBackend(format!("{namespace}/{name}"));
    let backend = index.backend(namespace, name).ok_or_else(unknown)?;
    audit.route(backend);
    // The caller is the verified peer; every allowed call goes to the app in this pod.
    let upstream = Upstream::Plain {
        address: app.to_string(),
    };
    let route = BackendRoute::new(target_of(&parts, backend)?, peer, upstream);
    pipeline::to_backend(proxy, &index, (parts, body), &route, audit).await
}

/// The request as addressed to `backend`: its path (checked as outbound paths are) and
/// the authority the caller named.
fn target_of<'i>(parts: &Parts, backend: &'i Backend) -> Result<BackendTarget<'i>, ProxyError> {
    if parts.method == Method::CONNECT {
        let refused = "CONNECT is not served inbound".to_owned();
        return Err(ProxyError::BadRequest(refused));
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    check_path(path)?;
    let authority = authority(parts).or_else(|| backend_authority(backend));
    let no_address = || RouteError::NoAddress(backend.id().to_string());
    Ok(BackendTarget {
        backend,
        authority: authority.ok_or_else(no_address)?,
        path: path.to_owned(),
    })
}

/// The authority the caller addressed (Host, or an HTTP/2 request's URI authority).
fn authority(parts: &Parts) -> Option<String> {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let host = host.or_else(|| parts.uri.authority().map(|a| a.as_str()));
    host.map(str::to_owned)
}

/// Without `--inbound-backend` no policy says who may call in, so nobody may.
fn refused(audit: &mut Record) -> ProxyError {
    let reason = "this workload accepts no inbound calls: no --inbound-backend \
                  (AGENTNET_INBOUND_BACKEND) names the XBackend whose policies govern them"
        .to_owned();
    audit.denied(None, None, reason.clone());
    denied(Denial::new((None, None), (None, None), reason))
}
