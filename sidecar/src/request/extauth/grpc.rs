//! gRPC mode: `envoy.service.auth.v3.Authorization/Check` with the attributes Envoy
//! would send (source principal, the HTTP request, headers filtered by
//! `grpc.allowedHeaders`, the body up to `forwardBody.maxSize`) and the MCP message as
//! `metadata_context.filter_metadata["mcp_proxy"]` = {method, id, params}, exactly as
//! upstream's Envoy MCP filter emits it, so Authorino and OPA policies written for
//! upstream work unchanged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use ::http::header::{HeaderName, HeaderValue};
use ::http::uri::PathAndQuery;
use agentnet_api::gateway::HttpExternalAuthFilter;
use serde_json::{Map, Value};
use tonic::transport::{Channel, Endpoint};

use super::proto::{
    AttributeContext, AttributeRequest, CHECK_PATH, CheckRequest, CheckResponse, HeaderValueOption,
    HttpRequest, HttpResponse, Metadata, Peer, to_struct,
};
use super::{Allowed, CheckInput, ExternalAuthError, allowed, describe, forwarded_body};

/// The metadata namespace upstream's MCP filter writes.
pub const MCP_METADATA: &str = "mcp_proxy";
/// gRPC's OK.
const OK: i32 = 0;

/// One lazily connected channel per authorizer address.
#[derive(Debug)]
pub struct GrpcClient {
    connect_timeout: Duration,
    channels: Mutex<HashMap<String, Channel>>,
}

// === impl GrpcClient ===

impl GrpcClient {
    pub fn new(connect_timeout: Duration) -> Self {
        GrpcClient {
            connect_timeout,
            channels: Mutex::new(HashMap::new()),
        }
    }

    pub async fn check(
        &self,
        address: &str,
        input: CheckInput<'_>,
        config: &HttpExternalAuthFilter,
    ) -> Result<Allowed, ExternalAuthError> {
        let mut client = tonic::client::Grpc::new(self.channel(address)?);
        let unreachable = |e: tonic::transport::Error| ExternalAuthError::Unreachable(describe(&e));
        client.ready().await.map_err(unreachable)?;
        let path = PathAndQuery::from_static(CHECK_PATH);
        let codec = tonic_prost::ProstCodec::<CheckRequest, CheckResponse>::default();
        let request = tonic::Request::new(check_request(input, config));
        match client.unary(request, path, codec).await {
            Ok(response) => verdict(response.into_inner()),
            Err(status) => Err(from_status(&status)),
        }
    }

    fn channel(&self, address: &str) -> Result<Channel, ExternalAuthError> {
        let mut channels = self
            .channels
            .lock()
            .map_err(|_| ExternalAuthError::Protocol("channel cache poisoned".into()))?;
        if let Some(c) = channels.get(address) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| ExternalAuthError::Protocol(format!("address {address}: {e}")))?
            .connect_timeout(self.connect_timeout);
        let channel = endpoint.connect_lazy();
        channels.insert(address.to_owned(), channel.clone());
        Ok(channel)
    }
}

fn from_status(status: &tonic::Status) -> ExternalAuthError {
    match status.code() {
        tonic::Code::Unavailable => ExternalAuthError::Unreachable(describe(status)),
        code => {
            ExternalAuthError::Protocol(format!("Check failed: {code:?}: {}", status.message()))
        }
    }
}

/// OK allows (with the ok_response's headers); anything else denies, with the
/// denied_response's status and body when the authorizer gave them.
fn verdict(response: CheckResponse) -> Result<Allowed, ExternalAuthError> {
    let status = response.status.unwrap_or_default();
    match (status.code, response.http_response) {
        (OK, Some(HttpResponse::Ok(ok))) => Ok(Allowed {
            headers: ok.headers.iter().filter_map(header).collect(),
        }),
        (OK, _) => Ok(Allowed::default()),
        (_, Some(HttpResponse::Denied(d))) => Err(ExternalAuthError::Denied {
            status: d
                .status
                .and_then(|s| u16::try_from(s.code).ok())
                .filter(|s| *s != 0),
            message: Some(if d.body.is_empty() {
                status.message
            } else {
                d.body
            }),
        }),
        (_, _) => Err(ExternalAuthError::Denied {
            status: None,
            message: Some(status.message),
        }),
    }
}

/// A header the authorizer sets upstream, if it is a valid one.
fn header(option: &HeaderValueOption) -> Option<(HeaderName, HeaderValue)> {
    let h = option.header.as_ref()?;
    let name = HeaderName::from_bytes(h.key.as_bytes()).ok()?;
    Some((name, HeaderValue::from_str(&h.text()).ok()?))
}

/// The CheckRequest Envoy would send for this request.
pub fn check_request(input: CheckInput<'_>, config: &HttpExternalAuthFilter) -> CheckRequest {
    let req = input.request;
    let peer = |principal: &str, service: String| Peer {
        principal: principal.to_owned(),
        service,
    };
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(peer(
                req.source.spiffe_id().unwrap_or_default(),
                String::new(),
            )),
            destination: Some(peer("", req.backend.to_string())),
            request: Some(AttributeRequest {
                time: Some(prost_types::Timestamp::from(SystemTime::now())),
                http: Some(http_attributes(input, config)),
            }),
            metadata_context: mcp_metadata(input.body),
            ..AttributeContext::default()
        }),
    }
}

/// `attributes.request.http`: the request as the upstream server sees it.
fn http_attributes(input: CheckInput<'_>, config: &HttpExternalAuthFilter) -> HttpRequest {
    let http = &input.request.http;
    let path = http.path_and_query().into_owned();
    let mut headers = headers(input, config);
    headers.insert(":authority".into(), http.authority.clone());
    headers.insert(":method".into(), http.method.clone());
    headers.insert(":path".into(), path.clone());
    let max = config.forward_body.as_ref().and_then(|f| f.max_size);
    HttpRequest {
        method: http.method.clone(),
        headers,
        path,
        host: http.authority.clone(),
        scheme: "http".into(),
        query: http.query.clone().unwrap_or_default(),
        size: i64::try_from(input.body.len()).unwrap_or(i64::MAX),
        protocol: "HTTP/1.1".into(),
        body: String::from_utf8_lossy(&forwarded_body(input.body, max)).into_owned(),
        ..HttpRequest::default()
    }
}

/// Request headers `grpc.allowedHeaders` lets through (all when empty), repeated
/// ones joined with commas.
fn headers(input: CheckInput<'_>, config: &HttpExternalAuthFilter) -> HashMap<String, String> {
    let names = config
        .grpc
        .as_ref()
        .and_then(|g| g.allowed_headers.as_deref());
    let mut headers: HashMap<String, String> = HashMap::new();
    for (name, value) in &input.parts.headers {
        let Ok(value) = value.to_str() else { continue };
        if !allowed(names, name.as_str(), true) {
            continue;
        }
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    headers
}

/// `{method, id, params}` of a JSON-RPC body, as upstream's Envoy MCP filter emits them.
fn mcp_metadata(body: &[u8]) -> Option<Metadata> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    let method = object.get("method")?.clone();
    let mut fields = Map::new();
    fields.insert("method".into(), method);
    for key in ["id", "params"] {
        if let Some(v) = object.get(key) {
            fields.insert(key.into(), v.clone());
        }
    }
    let metadata = to_struct(&Value::Object(fields));
    Some(Metadata {
        filter_metadata: HashMap::from([(MCP_METADATA.to_owned(), metadata)]),
    })
}
