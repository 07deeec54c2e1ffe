//! The identity service's client: `POST <url>/v1/certify` over HTTPS (the server
//! verified against the trust bundle in force at the time of the call, so a rotated
//! bundle applies to the next renewal), the projected ServiceAccount token re-read from
//! its file for every request (the kubelet rotates it), and the requested lifetime.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agentnet_api::contract::identity::{CERTIFY_PATH, field};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::{Value, json};

use super::renew::Certify;
use super::trust::TrustStore;

/// Largest answer read (a chain and a bundle of a few certificates).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

#[derive(Debug)]
pub struct IdentityClient {
    /// `<identity URL>/v1/certify`.
    endpoint: String,
    token_file: PathBuf,
    lifetime: Option<Duration>,
    trust: Arc<TrustStore>,
    timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum CertifyError {
    #[error("reading the token file {path}: {message}")]
    Token { path: String, message: String },
    #[error("the trust bundle is empty, so the identity service cannot be verified")]
    NoRoots,
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("invalid identity URL {0:?}")]
    Url(String),
    #[error("POST {endpoint}: {message}")]
    Transport { endpoint: String, message: String },
    #[error("POST {endpoint}: timed out after {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    #[error("the identity service refused: {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the identity service's answer is not understood: {0}")]
    Response(String),
}

/// The fields of a 200 answer the client uses; the certificate itself says the rest.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Issued {
    certificate_chain: String,
}

// === impl IdentityClient ===

impl IdentityClient {
    pub fn new(
        url: &str,
        token_file: PathBuf,
        lifetime: Option<Duration>,
        trust: Arc<TrustStore>,
    ) -> Self {
        IdentityClient {
            endpoint: format!("{}{CERTIFY_PATH}", url.trim_end_matches('/')),
            token_file,
            lifetime,
            trust,
            timeout: Duration::from_secs(30),
        }
    }

    fn request(&self, csr_pem: &str, token: &str) -> Result<Request<Full<Bytes>>, CertifyError> {
        let mut body = json!({ field::CSR: csr_pem });
        if let Some(lifetime) = self.lifetime {
            body[field::LIFETIME_SECONDS] = lifetime.as_secs().into();
        }
        Request::builder()
            .method(Method::POST)
            .uri(&self.endpoint)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|_| CertifyError::Url(self.endpoint.clone()))
    }

    async fn token(&self) -> Result<String, CertifyError> {
        let token = tokio::fs::read_to_string(&self.token_file)
            .await
            .map_err(|e| CertifyError::Token {
                path: self.token_file.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(token.trim().to_owned())
    }

    /// A client trusting exactly the roots in force now.
    fn client(&self) -> Result<HttpsClient, CertifyError> {
        let roots = self.trust.load();
        if roots.is_empty() {
            return Err(CertifyError::NoRoots);
        }
        Ok(https_client(&roots)?)
    }

    async fn exchange(&self, csr_pem: &str) -> Result<(StatusCode, Bytes), CertifyError> {
        let request = self.request(csr_pem, &self.token().await?)?;
        let transport = |message: String| CertifyError::Transport {
            endpoint: self.endpoint.clone(),
            message,
        };
        let response = self
            .client()?
            .request(request)
            .await
            .map_err(|e| transport(error_chain(&e)))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| transport(e.to_string()))?
            .to_bytes();
        Ok((status, body))
    }
}

impl Certify for IdentityClient {
    async fn certify(&self, csr_pem: &str) -> Result<String, CertifyError> {
        let exchanged = tokio::time::timeout(self.timeout, self.exchange(csr_pem)).await;
        let (status, body) = exchanged.map_err(|_| CertifyError::Timeout {
            endpoint: self.endpoint.clone(),
            timeout: self.timeout,
        })??;
        if status != StatusCode::OK {
            return Err(refused(status, &body));
        }
        let issued: Issued =
            serde_json::from_slice(&body).map_err(|e| CertifyError::Response(e.to_string()))?;
        Ok(issued.certificate_chain)
    }
}

/// An error answer: its status, `error` code and `message` (never the request).
fn refused(status: StatusCode, body: &[u8]) -> CertifyError {
    let value: Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |f: &str| value[f].as_str().unwrap_or_default().to_owned();
    CertifyError::Refused {
        status: status.as_u16(),
        code: text(field::ERROR),
        message: text(field::MESSAGE),
    }
}

/// An HTTP/1 client over TLS that trusts exactly `roots`; it keeps no idle
/// connections, so each request to a Service may reach another replica.
fn https_client<B>(
    roots: &super::Roots,
) -> Result<Client<HttpsConnector<HttpConnector>, B>, rustls::Error>
where
    B: http_body::Body + Send,
    B::Data: Send,
{
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots.root_store())
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector))
}

/// An error and its sources, as one line (TLS failures hide under hyper's errors).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    message
}
