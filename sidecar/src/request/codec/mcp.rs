//! MCP messages, both transport eras. The 2026-07-28 transport routes on the
//! `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers; a policy that trusted
//! them could be talked around, so they must agree with the body (HeaderMismatch,
//! -32020, otherwise), and in any era a routing header that is sent must agree.

use agentnet_policy::{JsonRpcKind, McpMessage, Message};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use serde_json::Value;

use super::{Call, CallKind, CodecError, jsonrpc};

pub const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
pub const METHOD_HEADER: &str = "mcp-method";
pub const NAME_HEADER: &str = "mcp-name";
/// `_meta` key of the per-request protocol version (2026-07-28 and later).
const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";
/// The first revision whose requests carry routing headers.
const FIRST_MODERN_VERSION: &str = "2026-07-28";

/// The routing headers of one request, each sent at most once.
struct Routing<'h> {
    version: Option<&'h str>,
    method: Option<&'h str>,
    name: Option<&'h str>,
}

pub fn classify(headers: &HeaderMap, value: &Value) -> Result<Call, CodecError> {
    let message = McpMessage::parse(value).map_err(|source| CodecError::Invalid {
        id: jsonrpc::id_of(value),
        source,
    })?;
    let mismatch = |message: String| CodecError::HeaderMismatch {
        id: jsonrpc::id_of(value),
        message,
    };
    check_routing(headers, value, &message).map_err(mismatch)?;
    let kind = match message.kind {
        JsonRpcKind::Request => CallKind::Request,
        JsonRpcKind::Notification => CallKind::Notification,
        JsonRpcKind::Response => CallKind::Response,
    };
    Ok(Call {
        kind,
        id: message.id.clone(),
        method: (kind != CallKind::Response).then(|| message.method.clone()),
        target: message.name.clone().or_else(|| message.uri.clone()),
        message: Message::Mcp(message),
    })
}

/// The header rules; the error is the reply's message.
fn check_routing(headers: &HeaderMap, value: &Value, message: &McpMessage) -> Result<(), String> {
    let routing = Routing::from_headers(headers)?;
    let envelope = value
        .pointer("/params/_meta")
        .and_then(|m| m.get(PROTOCOL_VERSION_META));
    let agrees = |v: &Value| matches!((routing.version, v.as_str()), (Some(h), Some(v)) if h == v);
    if envelope.is_some_and(|v| !agrees(v)) {
        return Err(VERSION_MISMATCH.into());
    }
    let modern = envelope.is_some() || routing.version.is_some_and(is_modern);
    // Only requests must carry the headers; whatever is sent must agree.
    let required = modern && message.kind == JsonRpcKind::Request;
    check_method(routing.method, &message.method, required)?;
    check_name(routing.name, named_param(message), required)
}

const VERSION_MISMATCH: &str =
    "MCP-Protocol-Version header does not match the request's _meta protocol version";

fn check_method(header: Option<&str>, method: &str, required: bool) -> Result<(), String> {
    match header {
        Some(h) if h != method => Err("Mcp-Method header does not match the body's method".into()),
        None if required => Err("Mcp-Method header is required by MCP 2026-07-28".into()),
        _ => Ok(()),
    }
}

fn check_name(header: Option<&str>, named: Option<&str>, required: bool) -> Result<(), String> {
    match (header, named) {
        (Some(h), Some(n)) if decode(h).as_deref() != Some(n) => {
            Err("Mcp-Name header does not match the body's name".into())
        }
        (Some(_), None) => Err("Mcp-Name header on a message that names nothing".into()),
        (None, Some(_)) if required => Err("Mcp-Name header is required by MCP 2026-07-28".into()),
        _ => Ok(()),
    }
}

/// The body value `Mcp-Name` mirrors: the tool or prompt name, or the resource URI.
fn named_param(m: &McpMessage) -> Option<&str> {
    match m.method.as_str() {
        "tools/call" | "prompts/get" => m.name.as_deref(),
        "resources/read" => m.uri.as_deref(),
        _ => None,
    }
}

fn is_modern(version: &str) -> bool {
    // Revisions are dates (YYYY-MM-DD), so they order as strings.
    version.len() == FIRST_MODERN_VERSION.len() && version >= FIRST_MODERN_VERSION
}

/// A header value, or the `=?base64?…?=` form the spec uses for values that are not
/// visible ASCII; `None` when that form is malformed.
fn decode(value: &str) -> Option<String> {
    let Some(payload) = value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    else {
        return Some(value.to_owned());
    };
    STANDARD
        .decode(payload)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

// === impl Routing ===

impl<'h> Routing<'h> {
    fn from_headers(headers: &'h HeaderMap) -> Result<Self, String> {
        Ok(Routing {
            version: single(headers, PROTOCOL_VERSION_HEADER)?,
            method: single(headers, METHOD_HEADER)?,
            name: single(headers, NAME_HEADER)?,
        })
    }
}

fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, String> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(format!("{name} header appears more than once"));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| format!("{name} header is not visible ASCII"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_base64_form() {
        assert_eq!(decode("get-sum").as_deref(), Some("get-sum"));
        assert_eq!(decode("=?base64?w6ljaG8=?=").as_deref(), Some("écho"));
        assert_eq!(decode("=?base64?***?="), None);
    }

    #[test]
    fn modern_versions_are_dates_from_2026_07_28() {
        assert!(is_modern("2026-07-28") && is_modern("2027-01-01"));
        assert!(!is_modern("2025-11-25") && !is_modern("draft") && !is_modern("2026-07-28x"));
    }
}
