//! ExternalAuth: a request matching an ExternalAuth policy's rules must also be
//! allowed by that policy's authorizer, over Envoy's gRPC ext_authz (`grpc.rs`) or the
//! Gateway API's HTTP protocol (`http.rs`). It fails closed: an unresolved backendRef,
//! an unreachable authorizer, a timeout or an answer that cannot be read all deny.

mod grpc;
mod http;
pub mod proto;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ::http::header::{HeaderName, HeaderValue};
use ::http::request::Parts;
use agentnet_api::gateway::ExternalAuthProtocol;
use agentnet_policy::{AuthService, ExternalAuthRequirement, Request};
use bytes::Bytes;
use serde_json::{Value, json};

/// Calls external authorizers; one per sidecar, shared by every request.
#[derive(Debug)]
pub struct ExternalAuth {
    timeout: Duration,
    grpc: grpc::GrpcClient,
    http: http::HttpClient,
    next: AtomicUsize,
}

/// What the authorizer is asked about: the request as the upstream would see it.
#[derive(Clone, Copy, Debug)]
pub struct CheckInput<'a> {
    pub parts: &'a Parts,
    pub body: &'a Bytes,
    pub request: &'a Request,
}

/// An allow, with the headers the authorizer sets on the upstream request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExternalAuthError {
    #[error("ExternalAuth denied the request{}", detail(.status, .message))]
    Denied {
        /// The HTTP status the authorizer chose (its denied_response, or its answer).
        status: Option<u16>,
        message: Option<String>,
    },
    #[error("ExternalAuth unreachable: {0}")]
    Unreachable(String),
    #[error("ExternalAuth timed out after {0:?} (--extauth-timeout)")]
    Timeout(Duration),
    #[error("ExternalAuth not enforceable: {0}")]
    Unresolved(String),
    #[error("ExternalAuth failed: {0}")]
    Protocol(String),
}

fn detail(status: &Option<u16>, message: &Option<String>) -> String {
    match (status, message.as_deref().filter(|m| !m.is_empty())) {
        (Some(s), Some(m)) => format!(" (status {s}: {m})"),
        (Some(s), None) => format!(" (status {s})"),
        (None, Some(m)) => format!(" ({m})"),
        (None, None) => String::new(),
    }
}

// === impl ExternalAuth ===

impl ExternalAuth {
    /// `timeout` bounds each check, connecting included.
    pub fn new(timeout: Duration) -> Self {
        ExternalAuth {
            timeout,
            grpc: grpc::GrpcClient::new(timeout),
            http: http::HttpClient::new(timeout),
            next: AtomicUsize::new(0),
        }
    }

    /// Whether the authorizer `requirement` names allows the request.
    pub async fn check(
        &self,
        input: CheckInput<'_>,
        requirement: &ExternalAuthRequirement,
    ) -> Result<Allowed, ExternalAuthError> {
        let service = requirement
            .service
            .as_ref()
            .as_ref()
            .map_err(|why| ExternalAuthError::Unresolved(why.clone()))?;
        let address = self.address(service);
        let config = &requirement.config;
        let call = async {
            match config.protocol {
                ExternalAuthProtocol::Grpc => self.grpc.check(&address, input, config).await,
                ExternalAuthProtocol::Http => self.http.check(&address, input, config).await,
            }
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| ExternalAuthError::Timeout(self.timeout))?
    }

    /// A ready endpoint (round-robin), else the cluster IP, else the Service's name.
    fn address(&self, s: &AuthService) -> String {
        if !s.endpoints.is_empty() {
            let e = &s.endpoints[self.next.fetch_add(1, Ordering::Relaxed) % s.endpoints.len()];
            return join(&e.address, e.port);
        }
        s.cluster_ip
            .as_deref()
            .map_or_else(|| s.authority.clone(), |ip| join(ip, s.port))
    }
}

fn join(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

// === impl ExternalAuthError ===

impl ExternalAuthError {
    /// What a denial's `error.data.authorizer` says: the authorizer's status and message.
    pub fn data(&self) -> Option<Value> {
        match self {
            ExternalAuthError::Denied { status, message } => {
                Some(json!({"status": status, "message": message}))
            }
            _ => None,
        }
    }

    /// A bounded label for metrics and span attributes.
    pub fn kind(&self) -> &'static str {
        match self {
            ExternalAuthError::Denied { .. } => "denied",
            ExternalAuthError::Unreachable(_) => "unreachable",
            ExternalAuthError::Timeout(_) => "timeout",
            ExternalAuthError::Unresolved(_) => "unresolved",
            ExternalAuthError::Protocol(_) => "protocol",
        }
    }
}

/// The innermost cause in words, e.g. "connection refused" for a refused connect.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = Some(e);
    let mut last = e.to_string();
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return io_text(io);
        }
        last = err.to_string();
        current = err.source();
    }
    last
}

fn io_text(io: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match io.kind() {
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::ConnectionReset => "connection reset".into(),
        ErrorKind::TimedOut => "connect timed out".into(),
        _ => io.to_string(),
    }
}

/// Whether a request header goes to the authorizer: all when the list is empty
/// (gRPC, as Envoy), else the listed ones, case-insensitively.
fn allowed(list: Option<&[String]>, name: &str, all_when_empty: bool) -> bool {
    match list {
        None | Some([]) => all_when_empty,
        Some(l) => l.iter().any(|h| h.eq_ignore_ascii_case(name)),
    }
}

/// The first `max` bytes of the body (`forwardBody.maxSize`; none when unset).
fn forwarded_body(body: &Bytes, max: Option<u16>) -> Bytes {
    let max = usize::from(max.unwrap_or(0));
    body.slice(..body.len().min(max))
}

#[cfg(test)]
mod tests;
