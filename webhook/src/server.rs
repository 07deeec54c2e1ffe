//! The listeners: TLS (rustls, ring) for the API server's calls, plain HTTP for
//! metrics and probes. The TLS certificate is swapped in place by `CertResolver`, so
//! a renewed certificate is used for the next handshake without a restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Connections still open this long after shutdown starts are dropped.
const DRAIN: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("no certificate in the PEM data")]
    NoCertificate,
    #[error("reading PEM: {0}")]
    Pem(String),
    #[error("certificate and key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The serving certificate, replaced atomically; handshakes never wait on a lock.
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
    provider: Arc<CryptoProvider>,
}

// === impl CertResolver ===

impl CertResolver {
    pub fn new(chain_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = certified_key(chain_pem, key_pem, &provider)?;
        Ok(Self {
            current: ArcSwap::from_pointee(key),
            provider,
        })
    }

    /// Validates the new certificate and key first; on error the old ones stay.
    /// Returns whether anything changed.
    pub fn update(&self, chain_pem: &str, key_pem: &str) -> Result<bool, TlsError> {
        let key = certified_key(chain_pem, key_pem, &self.provider)?;
        if key.cert == self.current.load().cert {
            return Ok(false);
        }
        self.current.store(Arc::new(key));
        Ok(true)
    }

    /// A rustls server configuration serving HTTP/2 and HTTP/1.1 with this resolver.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn certified_key(
    chain_pem: &str,
    key_pem: &str,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    Ok(CertifiedKey::from_der(chain, key, provider)?)
}

/// Serves `app` over TLS until `shutdown` turns true, then drains open connections.
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    tls: Arc<rustls::ServerConfig>,
    shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    serve(
        listener,
        shutdown,
        move |tcp, graceful: &GracefulShutdown, peer| {
            let handshake = acceptor.accept(tcp);
            let (app, watcher) = (app.clone(), graceful.watcher());
            tokio::spawn(async move {
                let tls = match handshake.await {
                    Ok(tls) => tls,
                    Err(e) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                };
                let conn = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service(app))
                    .into_owned();
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        },
    )
    .await;
}

/// Serves `app` over plain HTTP (metrics and probes).
pub async fn serve_plain(listener: TcpListener, app: Router, shutdown: watch::Receiver<bool>) {
    serve(
        listener,
        shutdown,
        move |tcp, graceful: &GracefulShutdown, peer| {
            let conn = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service(app.clone()))
                .into_owned();
            let watched = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = watched.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        },
    )
    .await;
}

async fn serve<F>(listener: TcpListener, mut shutdown: watch::Receiver<bool>, mut handle: F)
where
    F: FnMut(tokio::net::TcpStream, &GracefulShutdown, SocketAddr),
{
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        match accepted {
            Ok((tcp, peer)) => handle(tcp, &graceful, peer),
            Err(e) => {
                // e.g. out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain period; closing them");
    }
}

fn service(
    app: Router,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone {
    hyper::service::service_fn(move |req: http::Request<Incoming>| {
        app.clone().oneshot(req.map(axum::body::Body::new))
    })
}

#[cfg(test)]
mod tests;
