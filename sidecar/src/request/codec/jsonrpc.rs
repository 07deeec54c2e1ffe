//! JSON-RPC 2.0 framing the sidecar needs: parsing a body once, the error codes it
//! answers with, and error replies that echo the request's id with its JSON type.

use bytes::Bytes;
use serde_json::{Value, json};

/// Not JSON at all.
pub const PARSE_ERROR: i64 = -32700;
/// JSON, but not one JSON-RPC message (a batch, a missing or mistyped member).
pub const INVALID_REQUEST: i64 = -32600;
/// MCP 2026-07-28: a routing header disagrees with the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// Upstream's (kube-agentic-networking's) denial code and message, kept exactly.
pub const FORBIDDEN: i64 = 403;
pub const FORBIDDEN_MESSAGE: &str = "Access to this tool is forbidden.";

/// Parses the body as one JSON value; the error says why, never what the body held.
pub fn parse(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| {
        format!(
            "{} at line {} column {}",
            category(&e),
            e.line(),
            e.column()
        )
    })
}

fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "invalid data",
        serde_json::error::Category::Eof => "unexpected end of input",
    }
}

/// The id of a JSON-RPC object when it is a valid one (string or number), for replies
/// to messages that fail later checks.
pub fn id_of(value: &Value) -> Option<Value> {
    match value.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id.clone()),
        _ => None,
    }
}

/// `{"jsonrpc":"2.0","id":…,"error":{"code":…,"message":…[,"data":…]}}`; a missing id
/// is `null`, as JSON-RPC requires when the id could not be determined.
pub fn error_body(id: Option<&Value>, code: i64, message: &str, data: Option<Value>) -> Bytes {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    let reply = json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": error});
    Bytes::from(reply.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_replies_keep_the_id_and_its_type() {
        let body = error_body(Some(&json!("7")), FORBIDDEN, FORBIDDEN_MESSAGE, None);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"jsonrpc":"2.0","id":"7","error":{"code":403,"message":"Access to this tool is forbidden."}})
        );
        let body = error_body(
            Some(&json!(7)),
            PARSE_ERROR,
            "Parse error",
            Some(json!({"x":1})),
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (&v["id"], &v["error"]["data"]),
            (&json!(7), &json!({"x":1}))
        );
        let v: Value =
            serde_json::from_slice(&error_body(None, INVALID_REQUEST, "m", None)).unwrap();
        assert_eq!(v["id"], Value::Null);
    }

    #[test]
    fn parse_errors_say_where_not_what() {
        let err = parse(b"{\"secret\": ").unwrap_err();
        assert!(err.starts_with("unexpected end of input"), "{err}");
        assert!(!err.contains("secret"));
        assert_eq!(id_of(&json!({"id": {"a": 1}})), None);
        assert_eq!(id_of(&json!({"id": 1})), Some(json!(1)));
    }
}
