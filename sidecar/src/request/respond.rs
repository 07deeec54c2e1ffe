//! respond: the one `ProxyError` and the one place it becomes a response. JSON-RPC
//! requests get JSON-RPC replies carrying their id (a policy denial in upstream's
//! shape: HTTP 200, code 403, "Access to this tool is forbidden."); anything else gets
//! a plain HTTP status with a JSON body.

use agentnet_policy::Protocol;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use serde_json::{Value, json};

use crate::request::body::{self, BoxError, ProxyBody};
use crate::request::codec::{CodecError, jsonrpc};
use crate::request::destination::TargetError;
use crate::request::filter::FilterError;
use crate::request::forward::UpstreamError;
use crate::request::identify::RouteError;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("the policy has not synced yet; every request is refused until it has")]
    NotSynced,
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("the request body is larger than {limit} bytes (--max-body-bytes)")]
    TooLarge { limit: usize },
    #[error("reading the request body failed: {0}")]
    BodyRead(BoxError),
    #[error("{}", .0.reason)]
    Denied(Box<Denial>),
    #[error("rate limit {} exceeded; retry after {}s", .0.limit, .0.retry_after_secs())]
    RateLimited(Box<RateLimited>),
    #[error("{0}")]
    RateLimitStore(String),
    #[error("no ready endpoint for XBackend {0}")]
    NoEndpoint(String),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("the list response cannot be filtered for this caller, so it is withheld: {0}")]
    Filter(#[from] FilterError),
}

/// A policy denial and what the reply says about it.
#[derive(Debug)]
pub struct Denial {
    /// The JSON-RPC request's id; `None` for notifications and non-JSON-RPC requests.
    pub id: Option<Value>,
    pub protocol: Option<Protocol>,
    pub policy: Option<String>,
    pub rule: Option<String>,
    pub reason: String,
    /// An ExternalAuth denial: the authorizer's status and message.
    pub authorizer: Option<Value>,
}

/// A request a rate limit refused.
#[derive(Debug)]
pub struct RateLimited {
    /// The JSON-RPC request's id; `None` for notifications and non-JSON-RPC requests.
    pub id: Option<Value>,
    pub policy: String,
    /// `namespace/policy/limit`.
    pub limit: String,
    pub retry_after: std::time::Duration,
}

/// agentnet's JSON-RPC code for a rate-limited MCP or A2A request: outside the
/// JSON-RPC reserved range (-32768..-32000), HTTP's 429 as upstream uses 403.
pub const RATE_LIMITED: i64 = 429;
pub const RATE_LIMITED_MESSAGE: &str = "Rate limit exceeded.";

/// A2A has no upstream denial shape; the same one is used with a message that fits.
const A2A_FORBIDDEN_MESSAGE: &str = "Access to this agent method is forbidden.";

// === impl Denial ===

impl Denial {
    /// `to`: the request's id and protocol; `by`: the policy and rule.
    pub fn new(
        (id, protocol): (Option<Value>, Option<Protocol>),
        (policy, rule): (Option<String>, Option<String>),
        reason: String,
    ) -> Self {
        Denial {
            id,
            protocol,
            policy,
            rule,
            reason,
            authorizer: None,
        }
    }
}

// === impl RateLimited ===

impl RateLimited {
    /// Whole seconds, rounded up (at least 1), as `Retry-After` says them.
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }
}

// === impl ProxyError ===

impl ProxyError {
    pub fn into_response(self) -> Response<ProxyBody> {
        match self {
            ProxyError::Denied(d) => denial(*d),
            ProxyError::RateLimited(r) => rate_limited(&r),
            ProxyError::Codec(e) => codec(e),
            other => plain(other.status(), &other.to_string()),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ProxyError::NotSynced | ProxyError::NoEndpoint(_) | ProxyError::RateLimitStore(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::Route(RouteError::OutboundDenied(_)) | ProxyError::Denied(_) => {
                StatusCode::FORBIDDEN
            }
            ProxyError::Route(RouteError::UnknownBackend(_)) => StatusCode::NOT_FOUND,
            ProxyError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ProxyError::Route(RouteError::NoAddress(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::Target(_)
            | ProxyError::Route(_)
            | ProxyError::BadRequest(_)
            | ProxyError::BodyRead(_) => StatusCode::BAD_REQUEST,
            ProxyError::Codec(_) => StatusCode::BAD_REQUEST,
            ProxyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::Upstream(_) | ProxyError::Filter(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

fn denial(d: Denial) -> Response<ProxyBody> {
    let mut data = json!({"policy": d.policy, "rule": d.rule, "reason": d.reason});
    if let Some(authorizer) = &d.authorizer {
        data["authorizer"] = authorizer.clone();
    }
    let Some(id) = &d.id else {
        // A notification or plain HTTP request has no id to answer: a plain 403.
        let body =
            json!({"error": "forbidden", "message": d.reason, "policy": d.policy, "rule": d.rule});
        return json_response(StatusCode::FORBIDDEN, Bytes::from(body.to_string()));
    };
    let message = match d.protocol {
        Some(Protocol::A2a) => A2A_FORBIDDEN_MESSAGE,
        _ => jsonrpc::FORBIDDEN_MESSAGE,
    };
    json_response(
        StatusCode::OK,
        jsonrpc::error_body(Some(id), jsonrpc::FORBIDDEN, message, Some(data)),
    )
}

/// JSON-RPC requests: HTTP 200 with error 429 (like denials, so MCP clients surface
/// it as a JSON-RPC error); anything else: HTTP 429. Both carry `Retry-After`.
fn rate_limited(r: &RateLimited) -> Response<ProxyBody> {
    let retry = r.retry_after_secs();
    let data = json!({"policy": r.policy, "limit": r.limit, "retryAfterSeconds": retry});
    let mut resp = match &r.id {
        Some(id) => json_response(
            StatusCode::OK,
            jsonrpc::error_body(Some(id), RATE_LIMITED, RATE_LIMITED_MESSAGE, Some(data)),
        ),
        None => {
            let message = format!("rate limit {} exceeded; retry after {retry}s", r.limit);
            let body = json!({"error": "too many requests", "message": message, "policy": r.policy, "limit": r.limit});
            json_response(StatusCode::TOO_MANY_REQUESTS, Bytes::from(body.to_string()))
        }
    };
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry));
    resp
}

fn codec(e: CodecError) -> Response<ProxyBody> {
    let (code, message) = match &e {
        CodecError::Parse(_) => (jsonrpc::PARSE_ERROR, "Parse error"),
        CodecError::Batch | CodecError::Invalid { .. } | CodecError::Ambiguous(_) => {
            (jsonrpc::INVALID_REQUEST, "Invalid Request")
        }
        CodecError::HeaderMismatch { .. } => (jsonrpc::HEADER_MISMATCH, "Header mismatch"),
        CodecError::UnexpectedBody(_) => return plain(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let body = jsonrpc::error_body(
        e.id(),
        code,
        message,
        Some(json!({"reason": e.to_string()})),
    );
    json_response(StatusCode::BAD_REQUEST, body)
}

/// `{"error": "<status reason>", "message": "..."}` with `status`.
pub fn plain(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let error = status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase();
    let body = json!({"error": error, "message": message});
    let mut resp = json_response(status, Bytes::from(body.to_string()));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

fn json_response(status: StatusCode, body: Bytes) -> Response<ProxyBody> {
    let mut resp = Response::new(body::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests;
