//! CONNECT tunnels. The bytes are opaque, so only a host-level decision is possible:
//! a backend whose policies look inside requests (tools, methods, paths, headers,
//! CEL, ExternalAuth) refuses tunnels and says why; others, and destinations that are
//! no XBackend, are tunnelled once the upstream connection is open.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Duration;

use agentnet_policy::{Backend, Index, Message};
use http::request::Parts;
use http::{Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};

use crate::request::audit::Record;
use crate::request::body::{self, ProxyBody};
use crate::request::decide::{deciding_policy, denied, facts};
use crate::request::forward::{Upstream, UpstreamError};
use crate::request::identify::BackendRoute;
use crate::request::proxy::Proxy;
use crate::request::respond::{Denial, ProxyError};

/// Open tunnels, so shutdown can wait for them and then close them.
#[derive(Debug)]
pub struct Tunnels {
    open: Arc<AtomicUsize>,
    idle: Arc<Notify>,
    close: watch::Sender<bool>,
}

struct Open {
    open: Arc<AtomicUsize>,
    idle: Arc<Notify>,
}

/// CONNECT to an XBackend.
pub async fn to_backend(
    proxy: &Proxy,
    parts: Parts,
    route: &BackendRoute<'_>,
    index: &Index,
    audit: &mut Record,
) -> Result<Response<ProxyBody>, ProxyError> {
    (audit.protocol, audit.method) = ("connect", Some("CONNECT".into()));
    check(&parts, route, index, audit)?;
    let address = match &route.upstream {
        Upstream::Plain { address } => address.clone(),
        // The client speaks TLS to the external host itself, through the tunnel.
        Upstream::Tls { hostname, port } => format!("{hostname}:{port}"),
        Upstream::Passthrough { authority } => authority.clone(),
        // The peer's inbound port speaks mTLS, which a tunnel from the app cannot.
        Upstream::Peer { .. } => return Err(peer_refusal(route.backend, audit)),
    };
    tunnel(proxy, parts, address).await
}

/// The host-level decision; a backend whose rules look inside requests refuses.
fn check(
    parts: &Parts,
    route: &BackendRoute<'_>,
    index: &Index,
    audit: &mut Record,
) -> Result<(), ProxyError> {
    let backend = route.backend;
    if backend.has_tool_rules() || !backend.rate_limits().is_empty() {
        let names: Vec<String> = backend.policies().map(ToString::to_string).collect();
        let (policy, reason) = (Some(names.join(", ")), refusal(backend));
        audit.denied(policy.clone(), None, reason.clone());
        return Err(denied(Denial::new((None, None), (policy, None), reason)));
    }
    let decision = index.decide(&facts(parts, route, Message::None)?);
    audit.decided(&decision);
    if decision.is_allowed() && decision.external_auth.is_none() {
        return Ok(());
    }
    let policy = deciding_policy(&decision, backend);
    audit.policy.clone_from(&policy);
    let by = (policy, decision.rule.clone());
    Err(denied(Denial::new((None, None), by, decision.reason())))
}

fn refusal(backend: &Backend) -> String {
    let why = match backend.has_tool_rules() {
        true => "its policies decide on what is inside each request",
        false => "its rate limits count each request",
    };
    format!(
        "CONNECT to XBackend {id} refused: {why}, which a tunnel would hide; send plain \
         http:// requests through the proxy, or use /backends/{id}/",
        id = backend.id()
    )
}

/// CONNECT to a backend served by a peer sidecar, which only accepts mTLS.
fn peer_refusal(backend: &Backend, audit: &mut Record) -> ProxyError {
    let reason = format!(
        "CONNECT to XBackend {id} refused: its pods run an agentnet sidecar reached over \
         mTLS; send plain http:// requests through the proxy, or use /backends/{id}/",
        id = backend.id()
    );
    audit.denied(None, None, reason.clone());
    denied(Denial::new((None, None), (None, None), reason))
}

/// Connects to `address`, answers 200, then splices the two connections.
pub async fn tunnel(
    proxy: &Proxy,
    mut parts: Parts,
    address: String,
) -> Result<Response<ProxyBody>, ProxyError> {
    let upstream = connect(&address, proxy.limits.connect_timeout).await?;
    let no_upgrade = || ProxyError::BadRequest("this connection cannot be upgraded".into());
    let upgrade = parts
        .extensions
        .remove::<OnUpgrade>()
        .ok_or_else(no_upgrade)?;
    let (open, close) = (proxy.tunnels.open(), proxy.tunnels.close.subscribe());
    tokio::spawn(splice(upgrade, upstream, open, close));
    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

pub(crate) async fn connect(address: &str, timeout: Duration) -> Result<TcpStream, ProxyError> {
    let failed = |message: String| {
        let upstream = address.to_owned();
        ProxyError::Upstream(UpstreamError::Connect { upstream, message })
    };
    match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(_) => Err(failed("timed out".into())),
    }
}

/// Copies both ways until either side closes or shutdown closes every tunnel.
async fn splice(upgrade: OnUpgrade, upstream: TcpStream, open: Open, close: watch::Receiver<bool>) {
    let Ok(upgraded) = upgrade.await else { return };
    copy_both_ways(TokioIo::new(upgraded), upstream, open, close).await;
}

/// A captured connection spliced to its destination, counted as an open tunnel (so
/// shutdown drains it, then closes it).
pub(crate) async fn splice_streams(tunnels: &Tunnels, client: TcpStream, upstream: TcpStream) {
    let (open, close) = (tunnels.open(), tunnels.close.subscribe());
    copy_both_ways(client, upstream, open, close).await;
}

async fn copy_both_ways<C>(
    mut client: C,
    mut upstream: TcpStream,
    open: Open,
    mut close: watch::Receiver<bool>,
) where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let _open = open;
    tokio::select! {
        done = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            if let Err(e) = done {
                tracing::debug!(error = %e, "tunnel ended with an error");
            }
        }
        () = crate::request::proxy::until_set(&mut close) => tracing::debug!("tunnel closed at shutdown"),
    }
}

// === impl Tunnels ===

impl Tunnels {
    pub fn new() -> Self {
        Tunnels {
            open: Arc::default(),
            idle: Arc::default(),
            close: watch::channel(false).0,
        }
    }

    fn open(&self) -> Open {
        self.open.fetch_add(1, Ordering::AcqRel);
        Open {
            open: self.open.clone(),
            idle: self.idle.clone(),
        }
    }

    pub fn count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Resolves when no tunnel is open.
    pub async fn drained(&self) {
        loop {
            let idle = self.idle.notified();
            if self.count() == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Ends every open tunnel (the drain deadline has passed).
    pub fn close_all(&self) {
        self.close.send_replace(true);
    }
}

impl Default for Tunnels {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}
