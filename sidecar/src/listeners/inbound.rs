//! accept (inbound): TCP, then the mTLS handshake (bounded in time; a client without
//! an SVID chained to the trust bundle fails here and never reaches HTTP), then HTTP/1.1
//! or HTTP/2 with the client's SPIFFE ID as every request's source. A connection lives
//! no longer than the client certificate it was authenticated with: at its notAfter the
//! connection is closed, so a caller whose certificate expired (its renewals failing)
//! cannot keep calling over a connection it opened before.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentnet_policy::Source;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::Instrument;

use crate::identity::metrics::IdentityMetrics;
use crate::identity::{Workload, verify};
use crate::request::inbound::InboundTarget;
use crate::request::proxy::Proxy;

/// A client has this long to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The bound inbound listener and what its requests share.
pub struct Inbound {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Shared,
}

#[derive(Clone, Debug)]
struct Shared {
    proxy: Arc<Proxy>,
    target: Option<Arc<InboundTarget>>,
    metrics: IdentityMetrics,
}

#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("binding the inbound listener {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("inbound TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

// === impl Inbound ===

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound")
            .field("listener", &self.listener)
            .field("target", &self.shared.target)
            .finish_non_exhaustive()
    }
}

impl Inbound {
    /// Binds `addr`; requests are decided and forwarded by `proxy` to `target`'s app.
    pub async fn bind(
        addr: SocketAddr,
        proxy: Arc<Proxy>,
        workload: &Workload,
        target: Option<InboundTarget>,
    ) -> Result<Self, InboundError> {
        let config = crate::tls::server_config(workload.store.clone(), workload.trust.clone())?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| InboundError::Bind { addr, source })?;
        let metrics = proxy.metrics.identity.clone();
        Ok(Inbound {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            shared: Shared {
                proxy,
                target: target.map(Arc::new),
                metrics,
            },
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts until `shutdown` turns true; returns the open connections to drain.
    pub async fn serve(self, mut shutdown: watch::Receiver<bool>) -> GracefulShutdown {
        let graceful = GracefulShutdown::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => spawn_connection(self.acceptor.clone(), stream, peer, graceful.watcher(), self.shared.clone()),
                    Err(e) => {
                        tracing::warn!(error = %e, "inbound accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                () = crate::request::proxy::until_set(&mut shutdown) => break,
            }
        }
        graceful
    }
}

fn spawn_connection(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    watcher: Watcher,
    shared: Shared,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "set_nodelay failed");
    }
    let task = async move {
        let accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
        let tls = match accepted.map_err(|_| "timed out".to_owned()) {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return rejected(&shared, peer, &e.to_string()),
            Err(e) => return rejected(&shared, peer, &e),
        };
        let Some((source, expires)) = peer_source(&tls) else {
            return rejected(&shared, peer, "no SPIFFE ID in the client certificate");
        };
        shared.metrics.handshake(true);
        tracing::debug!(src.spiffe = %source, "inbound connection");
        let lifetime = expires
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let served = serve_http(tls, source.clone(), watcher, shared);
        if tokio::time::timeout(lifetime, served).await.is_err() {
            tracing::info!(src.spiffe = %source, "client certificate expired; connection closed");
        }
    };
    tokio::spawn(task.instrument(tracing::debug_span!("conn", peer = %peer, inbound = true)));
}

/// A failed handshake: counted, and logged at info (a security event, not an error).
fn rejected(shared: &Shared, peer: SocketAddr, error: &str) {
    shared.metrics.handshake(false);
    tracing::info!(%peer, error, "inbound handshake rejected");
}

/// The client's SPIFFE ID and its certificate's expiry (it was verified in the
/// handshake).
fn peer_source(tls: &TlsStream<TcpStream>) -> Option<(Source, SystemTime)> {
    let leaf = tls.get_ref().1.peer_certificates()?.first()?;
    let id = verify::spiffe_id(leaf).ok()?;
    let expires = verify::not_after(leaf).ok()?;
    Some((Source::from_spiffe_id(&id).ok()?, expires))
}

async fn serve_http(tls: TlsStream<TcpStream>, source: Source, watcher: Watcher, shared: Shared) {
    let service = service_fn(move |req| {
        let Shared { proxy, target, .. } = shared.clone();
        let source = source.clone();
        async move {
            Ok::<_, Infallible>(crate::request::inbound::handle(proxy, target, source, req).await)
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder
        .serve_connection(TokioIo::new(tls), service)
        .into_owned();
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(error = %e, "inbound connection ended with an error");
    }
}

/// Waits (up to `deadline`) for open inbound connections to finish.
pub async fn drain(connections: Option<GracefulShutdown>, deadline: Duration) {
    let Some(connections) = connections else {
        return;
    };
    if tokio::time::timeout(deadline, connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?deadline, "inbound drain deadline passed");
    }
}
