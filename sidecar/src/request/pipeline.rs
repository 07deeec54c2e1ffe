//! The request path: accept (the listener) → parse → identify → decide → forward →
//! filter → audit (the record, emitted when it drops). `stages` lists them in order;
//! every failure is a `ProxyError` that only `respond` turns into a response.

use std::net::SocketAddr;
use std::sync::Arc;

use agentnet_policy::{Backend, BackendDefault, Index, Protocol};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use opentelemetry::trace::SpanKind;

use crate::request::audit::Record;
use crate::request::body::{self, ProxyBody, ReadError};
use crate::request::codec::{self, Call};
use crate::request::connect;
use crate::request::decide;
use crate::request::destination::{self, Target};
use crate::request::filter::{self, ResponseFilter};
use crate::request::forward::{self, Upstream};
use crate::request::identify::{self, BackendRoute, BackendTarget, PassthroughRoute, Route};
use crate::request::proxy::Proxy;
use crate::request::respond::ProxyError;

/// How a request reached the outbound listener.
#[derive(Clone, Copy, Debug)]
pub enum Arrival {
    /// Sent to the sidecar: `HTTP_PROXY` (absolute form, CONNECT) or `/backends/`.
    Proxied,
    /// Redirected by the capture rules from this original destination.
    Captured(SocketAddr),
}

/// Serves one request; never fails (a failure is a response).
pub async fn handle(
    proxy: Arc<Proxy>,
    req: Request<Incoming>,
    arrival: Arrival,
) -> Response<ProxyBody> {
    let mut audit = Record::new(proxy.identity.label(), proxy.metrics.clone(), proxy.audit);
    audit.trace = proxy.tracer.request(req.headers());
    audit.correlate(req.headers());
    let response = match stages(&proxy, req, arrival, &mut audit).await {
        Ok(response) => response,
        Err(e) => failed(&mut audit, e),
    };
    audit.status = Some(response.status().as_u16());
    response
}

async fn stages(
    proxy: &Proxy,
    req: Request<Incoming>,
    arrival: Arrival,
    audit: &mut Record,
) -> Result<Response<ProxyBody>, ProxyError> {
    let index = synced_index(proxy, audit)?;
    let (parts, body) = req.into_parts();
    let target = match arrival {
        Arrival::Proxied => destination::parse(&parts)?,
        Arrival::Captured(to) => destination::captured(&parts, to)?,
    };
    let route = match identify::route(&target, &index, &proxy.routing)? {
        Route::Passthrough(to) => return passthrough(proxy, parts, body, to, audit).await,
        Route::Backend(route) => route,
    };
    audit.route(route.backend);
    let route = outbound_route(proxy, route)?;
    if matches!(target, Target::Connect { .. }) {
        return connect::to_backend(proxy, parts, &route, &index, audit).await;
    }
    to_backend(proxy, &index, (parts, body), &route, audit).await
}

/// This agent calling the backend, at the upstream the forwarder picks.
fn outbound_route<'i>(
    proxy: &Proxy,
    target: BackendTarget<'i>,
) -> Result<BackendRoute<'i>, ProxyError> {
    let backend = target.backend;
    let upstream = proxy
        .forward
        .pick(backend)
        .ok_or_else(|| ProxyError::NoEndpoint(backend.id().to_string()))?;
    let caller = proxy.identity.source().clone();
    Ok(BackendRoute::new(target, caller, upstream))
}

/// A request to a known backend: parse → decide → forward → filter. The outbound
/// path's tail, and all of an inbound (mTLS) request's path.
pub(crate) async fn to_backend(
    proxy: &Proxy,
    index: &Arc<Index>,
    (parts, body): (Parts, Incoming),
    route: &BackendRoute<'_>,
    audit: &mut Record,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (body, mut call) = parse(proxy, &parts, body, route.backend, audit).await?;
    let facts = (&parts, &body);
    let (request, allowed) =
        decide::authorize(proxy, index, facts, (route, &mut call), audit).await?;
    let mut upstream = upstream_request(parts, body, route)?;
    for (name, value) in allowed.headers {
        upstream.headers_mut().insert(name, value);
    }
    let filter = restricts(index, route.backend).then(|| {
        // Lists in a compressed response could not be filtered: ask for none.
        upstream.headers_mut().remove(header::ACCEPT_ENCODING);
        ResponseFilter::new(index.clone(), request, proxy.limits.max_list_bytes)
    });
    finish(send(proxy, route, upstream, audit).await?, filter).await
}

/// Whether the caller's view of `backend` can differ from the server's: an MCP backend
/// that policies govern, or that the backend default denies. Only then are its
/// responses checked for lists (the check reads every message).
fn restricts(index: &Index, backend: &Backend) -> bool {
    let restricted = backend.policies().next().is_some()
        || backend.invalid().is_some()
        || index.settings().backend_default == BackendDefault::Deny;
    backend.protocol() == Protocol::Mcp && restricted
}

/// The upstream call, in its own client span whose `traceparent` the server gets.
async fn send(
    proxy: &Proxy,
    route: &BackendRoute<'_>,
    mut upstream: Request<ProxyBody>,
    audit: &mut Record,
) -> Result<Response<Incoming>, ProxyError> {
    let span = audit.trace.child("mcp.upstream", SpanKind::Client);
    span.inject(upstream.headers_mut());
    let response = proxy.forward.send(&route.upstream, upstream).await;
    let status = response.as_ref().map(|r| r.status().as_u16());
    let failed = !status.is_ok_and(|s| s < 500);
    if let Ok(s) = status {
        span.attribute("http.response.status_code", s.to_string());
    }
    span.end(None, failed.then_some("UpstreamError"));
    Ok(response?)
}

/// `params._meta.traceparent` of a JSON-RPC body (only read when tracing is on).
fn meta_traceparent(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let tp = value.pointer("/params/_meta/traceparent")?.as_str()?;
    Some(tp.to_owned())
}

/// The body, read whole (bounded), and the one message it must be.
async fn parse(
    proxy: &Proxy,
    parts: &Parts,
    body: Incoming,
    backend: &Backend,
    audit: &mut Record,
) -> Result<(Bytes, Call), ProxyError> {
    let body = read_body(body, proxy.limits.max_body_bytes).await?;
    let call = codec::classify(backend.protocol(), parts, &body)?;
    audit.call(&call, &parts.method);
    if audit.trace.is_on() {
        audit.trace.begin(meta_traceparent(&body).as_deref());
    }
    Ok((body, call))
}

/// The index in force, once (it decides and filters); nothing passes before the sync.
pub(crate) fn synced_index(proxy: &Proxy, audit: &mut Record) -> Result<Arc<Index>, ProxyError> {
    let index = proxy.policy.load();
    if !proxy.policy.is_synced() {
        return Err(ProxyError::NotSynced);
    }
    audit.generation = index.generation();
    Ok(index)
}

/// A failed request: recorded (`Record::failed`, the one place that does), answered.
pub(crate) fn failed(audit: &mut Record, e: ProxyError) -> Response<ProxyBody> {
    audit.failed(&e);
    if !matches!(e, ProxyError::Denied(_) | ProxyError::RateLimited(_)) {
        tracing::debug!(error = %e, "request failed");
    }
    e.into_response()
}

async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ProxyError> {
    body::collect(body, limit).await.map_err(|e| match e {
        ReadError::TooLarge { limit } => ProxyError::TooLarge { limit },
        ReadError::Read(e) => ProxyError::BodyRead(e),
    })
}

fn upstream_request(
    mut parts: Parts,
    body: Bytes,
    route: &BackendRoute<'_>,
) -> Result<Request<ProxyBody>, ProxyError> {
    let uri = route.upstream.uri(&route.path)?;
    // External servers get their own name; others the authority the request named
    // (a proxy replaces Host with the absolute-form target's, RFC 9112 §3.2.2).
    let named = || HeaderValue::from_str(&route.authority).ok();
    forward::prepare(&mut parts, uri, route.upstream.host_header().or_else(named));
    Ok(Request::from_parts(parts, body::full(body)))
}

async fn finish(
    response: Response<Incoming>,
    filter: Option<ResponseFilter>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let mut response = match filter {
        Some(filter) => filter::response(response, filter).await?,
        None => response.map(body::stream),
    };
    forward::strip_hop_by_hop(response.headers_mut());
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if is_sse {
        // Tells any buffering intermediary between here and the agent to stream.
        response
            .headers_mut()
            .insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    Ok(response)
}

/// A destination that is no XBackend (outbound default allow) or an excluded port:
/// forwarded or tunnelled unchanged, without inspection.
async fn passthrough(
    proxy: &Proxy,
    mut parts: Parts,
    body: Incoming,
    PassthroughRoute {
        authority,
        why,
        captured,
    }: PassthroughRoute,
    audit: &mut Record,
) -> Result<Response<ProxyBody>, ProxyError> {
    audit.passthrough(&authority, &parts.method, why);
    if parts.method == Method::CONNECT {
        return connect::tunnel(proxy, parts, authority).await;
    }
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    // A captured request keeps its own Host: only the connection's destination counts.
    let host = match captured {
        true => None,
        false => HeaderValue::from_str(&authority).ok(),
    };
    let to = Upstream::Passthrough { authority };
    forward::prepare(&mut parts, to.uri(&path)?, host);
    let upstream = Request::from_parts(parts, body::stream(body));
    let mut response = proxy.forward.send(&to, upstream).await?.map(body::stream);
    forward::strip_hop_by_hop(response.headers_mut());
    Ok(response)
}
