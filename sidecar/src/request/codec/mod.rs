//! parse: what one request asks for. A request body is read whole (bounded) and parsed
//! once; every body to a backend must be one JSON-RPC message, so nothing reaches a
//! server without its own decision.

pub mod a2a;
pub mod ambiguity;
pub mod jsonrpc;
pub mod mcp;
pub mod sse;

use agentnet_policy::{Message, MessageError, Protocol};
use bytes::Bytes;
use http::Method;
use http::request::Parts;
use serde_json::Value;

/// One request, classified.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub message: Message,
    pub kind: CallKind,
    /// The JSON-RPC id, echoed in replies the sidecar writes.
    pub id: Option<Value>,
    /// The method as sent (`tools/call`, `message/send`); `None` without a body.
    pub method: Option<String>,
    /// The tool, prompt, resource URI or skill, for audit.
    pub target: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// No JSON-RPC body: an MCP GET stream or DELETE, an agent card fetch.
    Http,
    Request,
    Notification,
    /// A client's response to a server request (MCP sampling, elicitation, roots).
    Response,
}

/// Why a request is rejected before any decision; `respond` picks the reply.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("the body is not valid JSON ({0})")]
    Parse(String),
    #[error("the message is ambiguous: {0}")]
    Ambiguous(ambiguity::Ambiguity),
    #[error("JSON-RPC batches are not supported: send one message per request")]
    Batch,
    #[error("invalid JSON-RPC message: {source}")]
    Invalid {
        id: Option<Value>,
        source: MessageError,
    },
    #[error("{message}")]
    HeaderMismatch { id: Option<Value>, message: String },
    #[error("a {0} request to a backend must not carry a body")]
    UnexpectedBody(Method),
}

// === impl Call ===

impl Call {
    /// A request without a JSON-RPC body.
    pub fn http() -> Self {
        Call {
            message: Message::None,
            kind: CallKind::Http,
            id: None,
            method: None,
            target: None,
        }
    }

    /// The id a reply to this call carries: requests have one, notifications and
    /// client responses get no JSON-RPC reply.
    pub fn reply_id(&self) -> Option<Value> {
        (self.kind == CallKind::Request)
            .then(|| self.id.clone())
            .flatten()
    }
}

// === impl CodecError ===

impl CodecError {
    /// The request's id, when the body got far enough to have one.
    pub fn id(&self) -> Option<&Value> {
        match self {
            CodecError::Invalid { id, .. } | CodecError::HeaderMismatch { id, .. } => id.as_ref(),
            _ => None,
        }
    }
}

/// Classifies a request to a backend of `protocol` whose body is `body`.
pub fn classify(protocol: Protocol, parts: &Parts, body: &Bytes) -> Result<Call, CodecError> {
    let carries_message = matches!(parts.method, Method::POST | Method::PUT | Method::PATCH);
    if !carries_message {
        return match body.is_empty() {
            true => Ok(Call::http()),
            false => Err(CodecError::UnexpectedBody(parts.method.clone())),
        };
    }
    let value = jsonrpc::parse(body).map_err(CodecError::Parse)?;
    ambiguity::check(body).map_err(CodecError::Ambiguous)?;
    if value.is_array() {
        return Err(CodecError::Batch);
    }
    match protocol {
        Protocol::Mcp => mcp::classify(&parts.headers, &value),
        Protocol::A2a => a2a::classify(&value),
    }
}

#[cfg(test)]
mod tests;
