//! HTTP mode, as the Gateway API's HTTPExternalAuthFilter defines it: the request's
//! method and path (after `http.path`, the prefix) go to the authorizer with `Host`,
//! `Authorization`, a correct `Content-Length` and the `allowedHeaders`, and the body
//! up to `forwardBody.maxSize`. A 2xx answer allows, and the `allowedResponseHeaders`
//! of that answer are set on the upstream request; any other answer denies.

use std::time::Duration;

use ::http::header::{self, HeaderName};
use ::http::{Request, Uri};
use agentnet_api::gateway::HttpExternalAuthFilter;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{Allowed, CheckInput, ExternalAuthError, allowed, describe, forwarded_body};

/// The most of a denial's body read (it becomes the denial's message).
const MAX_DENIAL_BYTES: usize = 4096;

#[derive(Debug)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

// === impl HttpClient ===

impl HttpClient {
    pub fn new(connect_timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        HttpClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    pub async fn check(
        &self,
        address: &str,
        input: CheckInput<'_>,
        config: &HttpExternalAuthFilter,
    ) -> Result<Allowed, ExternalAuthError> {
        let request = authorization_request(address, input, config)?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| ExternalAuthError::Unreachable(describe(&e)))?;
        if response.status().is_success() {
            return Ok(allow(&response, config));
        }
        Err(deny(response).await)
    }
}

/// An allow, with the `allowedResponseHeaders` of the answer.
pub(super) fn allow<B>(response: &::http::Response<B>, config: &HttpExternalAuthFilter) -> Allowed {
    let names = config
        .http
        .as_ref()
        .and_then(|h| h.allowed_response_headers.as_deref());
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| allowed(names, name.as_str(), false))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    Allowed { headers }
}

/// A denial with the answer's status and (the start of) its body.
async fn deny(response: ::http::Response<hyper::body::Incoming>) -> ExternalAuthError {
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_DENIAL_BYTES)
        .collect()
        .await;
    let message = body
        .ok()
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned());
    ExternalAuthError::Denied {
        status: Some(status),
        message,
    }
}

/// The request to the authorizer: same method, `http.path` + the original path, the
/// headers always sent plus the allowed ones, and the forwarded part of the body.
pub fn authorization_request(
    address: &str,
    input: CheckInput<'_>,
    config: &HttpExternalAuthFilter,
) -> Result<Request<Full<Bytes>>, ExternalAuthError> {
    let http = &input.request.http;
    let prefix = config
        .http
        .as_ref()
        .and_then(|h| h.path.as_deref())
        .unwrap_or("");
    let path = format!("{}{}", prefix.trim_end_matches('/'), http.path_and_query());
    let uri: Uri = format!("http://{address}{path}").parse().map_err(|_| {
        ExternalAuthError::Protocol(format!("invalid authorization URI for {path:?}"))
    })?;
    let body = forwarded_body(
        input.body,
        config.forward_body.as_ref().and_then(|f| f.max_size),
    );
    let builder = Request::builder()
        .method(input.parts.method.clone())
        .uri(uri)
        .header(header::HOST, http.authority.as_str())
        .header(header::CONTENT_LENGTH, body.len());
    with_headers(builder, input, config)
        .body(Full::new(body))
        .map_err(|e| ExternalAuthError::Protocol(e.to_string()))
}

/// `Authorization` and the `allowedHeaders` (`Host` and `Content-Length` are the
/// authorization request's own).
fn with_headers(
    mut builder: ::http::request::Builder,
    input: CheckInput<'_>,
    config: &HttpExternalAuthFilter,
) -> ::http::request::Builder {
    let names = config
        .http
        .as_ref()
        .and_then(|h| h.allowed_headers.as_deref());
    for (name, value) in &input.parts.headers {
        let framing = name == header::HOST || name == header::CONTENT_LENGTH;
        if !framing && (is_always_sent(name) || allowed(names, name.as_str(), false)) {
            builder = builder.header(name, value);
        }
    }
    builder
}

/// `Authorization` is always sent; `Host` and `Content-Length` are set above.
fn is_always_sent(name: &HeaderName) -> bool {
    name == header::AUTHORIZATION
}
