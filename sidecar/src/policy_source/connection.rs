//! One connection to the policy service, carrying the view stream and the
//! acknowledgements of its views. Acknowledgements must reach the replica that sent
//! the view; through a Service a new connection may reach another, so both travel on
//! the same HTTP/2 connection. A server that does not negotiate h2 gets HTTP/1.1 and no
//! acknowledgements (its sessions show as SENT, never SYNCED). Connecting is bounded
//! by `CONNECT_TIMEOUT`.

use std::sync::Arc;
use std::time::Duration;

use agentnet_api::contract::policy::{ACK_PATH, Ack, SESSION_HEADER, VIEW_PATH};
use bytes::Bytes;
use http::{Request, Response, Uri, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::identity::client::error_chain;
use crate::identity::trust::Roots;

/// An acknowledgement that has not been answered by then is dropped.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// TCP connect and TLS handshake. A replica that vanished with its pod leaves an
/// address that answers nothing while the Service still lists it: without this the
/// attempt would wait out the 30 s silence bound instead of trying again (and, through
/// the Service, likely reaching a live replica) within a few seconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// HTTP/2 ping interval, and how long a ping may go unanswered.
const KEEPALIVE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectError {
    #[error("the policy URL {0} has no host")]
    NoHost(String),
    #[error("connecting to {0}: {1}")]
    Tcp(String, std::io::Error),
    #[error("TLS with {0}: {1}")]
    Tls(String, std::io::Error),
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("{0}")]
    Http(String),
}

/// Sends acknowledgements on the stream's own connection.
#[derive(Clone, Debug)]
pub(super) struct Acker {
    send: http2::SendRequest<Full<Bytes>>,
    uri: Uri,
    session: String,
}

/// Opens a connection to `endpoint` (an absolute `https://` URL of the view stream,
/// query included), verified against `roots`, and sends `GET` with `token`. The
/// answer, and an `Acker` when the connection is HTTP/2 and the server named a session.
pub(super) async fn open(
    endpoint: &str,
    roots: &Roots,
    token: &str,
) -> Result<(Response<Incoming>, Option<Acker>), ConnectError> {
    let uri: Uri = endpoint
        .parse()
        .map_err(|e: http::uri::InvalidUri| ConnectError::Http(e.to_string()))?;
    let host = uri
        .host()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
        .ok_or_else(|| ConnectError::NoHost(endpoint.to_owned()))?;
    let port = uri.port_u16().unwrap_or(443);
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
        .await
        .unwrap_or_else(|_| Err(timed_out()))
        .map_err(|e| ConnectError::Tcp(format!("{host}:{port}"), e))?;
    let _ = tcp.set_nodelay(true);
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots.root_store())
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let name = ServerName::try_from(host.clone())
        .map_err(|e| ConnectError::Http(format!("server name {host}: {e}")))?;
    let handshake = TlsConnector::from(Arc::new(tls)).connect(name, tcp);
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
        .await
        .unwrap_or_else(|_| Err(timed_out()))
        .map_err(|e| ConnectError::Tls(format!("{host}:{port}"), e))?;
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(stream);
    if h2 {
        // Pings find a replica whose pod vanished without closing the connection in
        // seconds, not at the 30 s silence bound.
        let (mut send, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(KEEPALIVE)
            .keep_alive_timeout(KEEPALIVE)
            .keep_alive_while_idle(true)
            .handshake(io)
            .await
            .map_err(|e| ConnectError::Http(e.to_string()))?;
        tokio::spawn(conn);
        // HTTP/2 carries scheme and authority in the absolute URI.
        let request = view_request(&uri.to_string(), None, token)?;
        let response = send
            .send_request(request)
            .await
            .map_err(|e| ConnectError::Http(error_chain(&e)))?;
        let session = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let acker = session.and_then(|session| {
            let uri = ack_uri(&uri)?;
            Some(Acker { send, uri, session })
        });
        return Ok((response, acker));
    }
    let (mut send, conn) = http1::handshake(io)
        .await
        .map_err(|e| ConnectError::Http(e.to_string()))?;
    tokio::spawn(conn);
    let path = uri.path_and_query().map_or(VIEW_PATH, |p| p.as_str());
    let request = view_request(path, uri.authority().map(|a| a.as_str()), token)?;
    let response = send
        .send_request(request)
        .await
        .map_err(|e| ConnectError::Http(error_chain(&e)))?;
    Ok((response, None))
}

/// `GET target` with the bearer token (and `Host`, for HTTP/1.1).
fn view_request(
    target: &str,
    host: Option<&str>,
    token: &str,
) -> Result<Request<Full<Bytes>>, ConnectError> {
    let mut request = Request::get(target).header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(host) = host {
        request = request.header(header::HOST, host);
    }
    request
        .body(Full::default())
        .map_err(|e| ConnectError::Http(e.to_string()))
}

/// `<scheme>://<authority><policy URL's path prefix>/v1/policy/ack`.
fn ack_uri(view: &Uri) -> Option<Uri> {
    let prefix = view.path().strip_suffix(VIEW_PATH)?;
    let authority = view.authority()?;
    format!("https://{authority}{prefix}{ACK_PATH}")
        .parse()
        .ok()
}

// === impl Acker ===

impl Acker {
    /// Tells the replica what became of view `version` (in the background: the stream
    /// goes on regardless; an acknowledgement that fails only leaves the session SENT).
    pub(super) fn send(&self, version: &str, error: Option<String>) {
        let ack = Ack {
            session: self.session.clone(),
            version: version.to_owned(),
            applied: error.is_none(),
            error,
        };
        let Ok(body) = serde_json::to_vec(&ack) else {
            return;
        };
        let request = Request::post(self.uri.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)));
        let Ok(request) = request else { return };
        let mut send = self.send.clone();
        tokio::spawn(async move {
            let sent = tokio::time::timeout(ACK_TIMEOUT, async {
                send.ready().await?;
                send.send_request(request).await
            })
            .await;
            match sent {
                Ok(Ok(r)) if r.status().is_success() => {}
                Ok(Ok(r)) => {
                    tracing::debug!(status = %r.status(), "policy acknowledgement refused")
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "policy acknowledgement failed"),
                Err(_) => tracing::debug!("policy acknowledgement timed out"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_go_next_to_the_view_path() {
        let view: Uri =
            "https://agentnet-webhook.agentnet-system.svc:8444/v1/policy/view?identity=x"
                .parse()
                .unwrap();
        assert_eq!(
            ack_uri(&view).unwrap().to_string(),
            "https://agentnet-webhook.agentnet-system.svc:8444/v1/policy/ack"
        );
        let prefixed: Uri = "https://cp:8444/agentnet/v1/policy/view".parse().unwrap();
        assert_eq!(
            ack_uri(&prefixed).unwrap().to_string(),
            "https://cp:8444/agentnet/v1/policy/ack"
        );
    }
}
