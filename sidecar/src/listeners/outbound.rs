//! accept (outbound): the agent's connections, served until they close or shutdown
//! drains them. A connection made to the listener itself (`HTTP_PROXY`, `/backends/`)
//! is HTTP/1.1 or HTTP/2 with prior knowledge. A connection the capture rules redirected
//! is decided by its original destination: one no XBackend owns (and no external
//! backend could be named on) follows the outbound default untouched; otherwise its
//! first bytes say whether it is HTTP (every request mediated) or not (one host-level
//! decision for the whole connection, `request::opaque`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use agentnet_policy::{Destination, Lookup};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::Instrument;

use super::transparent::{self, DETECT_TIMEOUT, Protocol};
use crate::request::opaque::{self, Seen};
use crate::request::pipeline::{self, Arrival};
use crate::request::proxy::Proxy;

/// Accepts on every listener until `shutdown` turns true, then stops accepting and
/// hands back the connections still open, for the caller to drain.
pub async fn serve(
    listeners: Vec<TcpListener>,
    proxy: Arc<Proxy>,
    shutdown: watch::Receiver<bool>,
) -> GracefulShutdown {
    let graceful = Arc::new(GracefulShutdown::new());
    let mut accepting = tokio::task::JoinSet::new();
    for listener in listeners {
        let (proxy, graceful, shutdown) = (proxy.clone(), graceful.clone(), shutdown.clone());
        accepting.spawn(accept(listener, proxy, graceful, shutdown));
    }
    while accepting.join_next().await.is_some() {}
    Arc::into_inner(graceful).unwrap_or_default()
}

async fn accept(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    graceful: Arc<GracefulShutdown>,
    mut shutdown: watch::Receiver<bool>,
) {
    let builder = builder();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => connection(&builder, &graceful, stream, peer, proxy.clone()),
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            () = crate::request::proxy::until_set(&mut shutdown) => break,
        }
    }
}

/// HTTP/1 and HTTP/2; an HTTP/1 client that half-closes its side after sending still
/// gets its answer.
fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().half_close(true);
    builder
}

fn connection(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    stream: TcpStream,
    peer: SocketAddr,
    proxy: Arc<Proxy>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "set_nodelay failed");
    }
    let Some(to) = transparent::original_destination(&stream) else {
        return serve_http(builder, graceful, stream, peer, proxy, Arrival::Proxied);
    };
    let (builder, watcher) = (builder.clone(), graceful.watcher());
    let task = async move {
        match inspect(&proxy, &stream, to).await {
            Some(Protocol::Http1 | Protocol::Http2) => {
                let service = service(proxy, Arrival::Captured(to));
                let connection =
                    builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                if let Err(e) = watcher.watch(connection.into_owned()).await {
                    tracing::debug!(error = %e, "captured connection ended with an error");
                }
            }
            Some(Protocol::Tls { sni }) => {
                opaque::handle(proxy, stream, to, Seen::Tls { sni }).await
            }
            Some(Protocol::Opaque) | None => opaque::handle(proxy, stream, to, Seen::Opaque).await,
        }
    };
    tokio::spawn(task.instrument(tracing::debug_span!("conn", %peer, %to, captured = true)));
}

/// What a captured connection speaks, when that matters: `None` when its destination
/// alone decides (no backend owns it and no external backend could be named on its
/// port), so the connection is not held up by detection.
async fn inspect(proxy: &Proxy, stream: &TcpStream, to: SocketAddr) -> Option<Protocol> {
    let index = proxy.policy.load();
    let owned = !matches!(index.at(to), Lookup::None);
    let external_port = index.backends().any(|b| {
        matches!(b.destination(), Some(Destination::External { port, .. }) if *port == to.port())
    });
    if proxy.policy.is_synced() && !owned && !external_port {
        return None;
    }
    match transparent::detect(stream, DETECT_TIMEOUT).await {
        Ok(protocol) => Some(protocol),
        Err(e) => {
            tracing::debug!(error = %e, "reading a captured connection failed");
            Some(Protocol::Opaque)
        }
    }
}

fn serve_http(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    stream: TcpStream,
    peer: SocketAddr,
    proxy: Arc<Proxy>,
    arrival: Arrival,
) {
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service(proxy, arrival))
        .into_owned();
    let connection = graceful.watch(connection);
    let task = async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    };
    tokio::spawn(task.instrument(tracing::debug_span!("conn", peer = %peer)));
}

fn service(
    proxy: Arc<Proxy>,
    arrival: Arrival,
) -> impl hyper::service::Service<
    http::Request<hyper::body::Incoming>,
    Response = http::Response<crate::request::body::ProxyBody>,
    Error = Infallible,
    Future = impl std::future::Future<
        Output = Result<http::Response<crate::request::body::ProxyBody>, Infallible>,
    > + Send,
> + Clone {
    service_fn(move |req| {
        let proxy = proxy.clone();
        async move { Ok::<_, Infallible>(pipeline::handle(proxy, req, arrival).await) }
    })
}
