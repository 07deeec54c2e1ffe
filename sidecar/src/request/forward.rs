//! forward: the only network I/O of the request path. A pooled HTTP/1.1 client to a
//! Service's ready endpoints (from EndpointSlices, round-robin), to an external
//! `hostname` backend over TLS (server certificate verified against the system roots
//! and `--upstream-ca-file`, SNI = hostname, Host rewritten), to a destination that
//! is no XBackend, or over mTLS to the inbound port of a peer sidecar (a Service
//! annotated `agentnet.dev/peer-identity`, see `tls::peers`). On the inbound listener
//! every backend's upstream is the local app (`--inbound-forward`). Hop-by-hop headers
//! stop here; everything else (MCP session and version headers, `Last-Event-ID`,
//! `A2A-Version`) passes untouched.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentnet_policy::{Backend, Destination};
use http::header::HeaderValue;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;

use crate::request::body::ProxyBody;
use crate::tls::Mesh;

mod headers;

pub use headers::{prepare, strip_hop_by_hop};

/// Where one request goes upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// Plain HTTP to `ip:port` (a Service endpoint or cluster IP, or the local app).
    Plain { address: String },
    /// mTLS to a peer sidecar's inbound port at `ip:port`, which must present
    /// `identity` (or, when the Service's annotations are unusable, why not).
    Peer {
        address: String,
        identity: Result<Arc<str>, String>,
    },
    /// TLS origination to an external backend.
    Tls { hostname: String, port: u16 },
    /// A destination that is no XBackend, as the client addressed it.
    Passthrough { authority: String },
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connecting to {upstream} failed: {message}")]
    Connect { upstream: String, message: String },
    #[error("TLS with {upstream} failed: {message}")]
    Tls { upstream: String, message: String },
    #[error("{upstream} failed: {message}")]
    Protocol { upstream: String, message: String },
    #[error("invalid upstream URI {0:?}")]
    Uri(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("reading --upstream-ca-file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

#[derive(Debug)]
pub struct Forwarder {
    client: Client<HttpsConnector<HttpConnector>, ProxyBody>,
    next: AtomicUsize,
    /// Peer sidecars and the mTLS client to them.
    mesh: Option<Mesh>,
}

// === impl Forwarder ===

impl Forwarder {
    pub fn new(connect_timeout: Duration, ca_file: Option<&Path>) -> Result<Self, ForwardError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots(ca_file)?)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Forwarder {
            client,
            next: AtomicUsize::new(0),
            mesh: None,
        })
    }

    /// Recognizes peer sidecars and reaches them over mTLS.
    pub fn set_mesh(&mut self, mesh: Mesh) {
        self.mesh = Some(mesh);
    }

    /// The upstream of a backend: for a Service, a ready endpoint (round-robin), over
    /// mTLS on the peer port when the Service is a peer, else its cluster IP; the
    /// external host for `hostname` backends.
    pub fn pick(&self, backend: &Backend) -> Option<Upstream> {
        match backend.destination()? {
            Destination::External { hostname, port } => Some(Upstream::Tls {
                hostname: hostname.clone(),
                port: *port,
            }),
            service @ Destination::Service { .. } => self.pick_service(service),
        }
    }

    /// Whether the backend's Service runs peer sidecars (reached only over mTLS).
    pub fn is_peer(&self, backend: &Backend) -> bool {
        let Some(Destination::Service {
            namespace, name, ..
        }) = backend.destination()
        else {
            return false;
        };
        self.mesh
            .as_ref()
            .is_some_and(|m| m.peer(namespace, name).is_some())
    }

    fn pick_service(&self, service: &Destination) -> Option<Upstream> {
        let Destination::Service {
            namespace,
            name,
            endpoints,
            cluster_ip,
            port,
            ..
        } = service
        else {
            return None;
        };
        let peer = self.mesh.as_ref().and_then(|m| m.peer(namespace, name));
        let endpoint = (!endpoints.is_empty())
            .then(|| &endpoints[self.next.fetch_add(1, Ordering::Relaxed) % endpoints.len()]);
        match (peer, endpoint) {
            // A peer is reached at its pods, never through the cluster IP.
            (Some(peer), e) => e.map(|e| Upstream::Peer {
                address: join_host_port(&e.address, peer.port),
                identity: peer.identity,
            }),
            (None, Some(e)) => Some(Upstream::Plain {
                address: join_host_port(&e.address, e.port),
            }),
            (None, None) => cluster_ip.as_ref().map(|ip| Upstream::Plain {
                address: join_host_port(ip, *port),
            }),
        }
    }

    /// Sends `req` (its URI already `upstream`'s) to `upstream`.
    pub async fn send(
        &self,
        upstream: &Upstream,
        req: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        // Only `pick` yields peers, and only with a mesh; without one the request would
        // fail verification against the public roots, never reach the peer in clear.
        if let (Upstream::Peer { identity, .. }, Some(mesh)) = (upstream, &self.mesh) {
            return mesh.send(identity, req).await;
        }
        let upstream = req
            .uri()
            .authority()
            .map(ToString::to_string)
            .unwrap_or_default();
        self.client
            .request(req)
            .await
            .map_err(|e| classify(upstream, &e))
    }
}

fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, ForwardError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let ca_error = |message: String| ForwardError::CaFile {
            path: path.display().to_string(),
            message,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|e| ca_error(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca_error("no PEM certificates".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
        }
    }
    if roots.is_empty() {
        tracing::warn!(
            native = added,
            "no trusted roots: TLS to external backends will fail until --upstream-ca-file is given"
        );
    }
    Ok(roots)
}

pub(crate) fn classify(upstream: String, e: &hyper_util::client::legacy::Error) -> UpstreamError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut message = e.to_string();
    while let Some(s) = source {
        if is_tls(s) {
            return UpstreamError::Tls {
                upstream,
                message: s.to_string(),
            };
        }
        message = s.to_string();
        source = s.source();
    }
    match e.is_connect() {
        true => UpstreamError::Connect { upstream, message },
        false => UpstreamError::Protocol { upstream, message },
    }
}

/// A rustls error, possibly inside (nested) io::Errors, as hyper-rustls reports them.
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.is::<rustls::Error>() {
        return true;
    }
    let inner = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref());
    inner.is_some_and(|inner| is_tls(inner))
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

// === impl Upstream ===

impl Upstream {
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, UpstreamError> {
        let uri = match self {
            Upstream::Plain { address } => format!("http://{address}{path_and_query}"),
            Upstream::Peer { address, .. } => format!("https://{address}{path_and_query}"),
            Upstream::Tls { hostname, port } => {
                format!("https://{hostname}:{port}{path_and_query}")
            }
            Upstream::Passthrough { authority } => format!("http://{authority}{path_and_query}"),
        };
        Uri::try_from(uri.as_str()).map_err(|_| UpstreamError::Uri(uri))
    }

    /// The Host an external server expects: its name (and port, unless 443).
    pub fn host_header(&self) -> Option<HeaderValue> {
        let Upstream::Tls { hostname, port } = self else {
            return None;
        };
        let host = if *port == 443 {
            hostname.clone()
        } else {
            format!("{hostname}:{port}")
        };
        HeaderValue::try_from(host).ok()
    }
}

#[cfg(test)]
mod tests;
