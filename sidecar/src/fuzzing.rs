//! Entry points for the fuzz targets (`fuzz/`, feature `fuzzing`): the parsers whose
//! input an agent or a server controls, bytes in, with the invariants a run checks.
//! Each panics when an invariant breaks; anything else is a normal outcome.

use std::sync::{Arc, OnceLock};

use agentnet_policy::{
    BackendRef, HttpRequest, Index, McpMessage, Message, Protocol, Request, Source,
};
use bytes::Bytes;
use serde_json::Value;

use crate::request::codec::{self, ambiguity, sse::Splitter};
use crate::request::filter::ResponseFilter;
use crate::testing;

/// A JSON-RPC request body (with MCP routing headers from `headers`): whatever the codec
/// accepts is valid JSON, unambiguous, and not a batch.
pub fn jsonrpc(body: &[u8], a2a: bool, headers: &[(&str, &str)]) {
    let mut req = http::Request::post("/mcp");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let Ok(req) = req.body(()) else { return };
    let (parts, ()) = req.into_parts();
    let protocol = if a2a { Protocol::A2a } else { Protocol::Mcp };
    let body = Bytes::copy_from_slice(body);
    if codec::classify(protocol, &parts, &body).is_ok() {
        let value: Value = serde_json::from_slice(&body).expect("accepted bodies are JSON");
        assert!(!value.is_array(), "a batch was accepted");
        assert!(
            ambiguity::check(&body).is_ok(),
            "an ambiguous message was accepted"
        );
    }
}

/// An SSE response from a server, in `chunks`: every event the filter lets through
/// shows only the tool `add` (the one the caller may use), whatever the framing.
pub fn sse_filter(chunks: &[&[u8]]) {
    let filter = ResponseFilter::new(index(), caller_request(), 64 * 1024);
    let mut splitter = Splitter::new(64 * 1024);
    let mut events = Vec::new();
    for chunk in chunks {
        match splitter.push(chunk) {
            Ok(more) => events.extend(more),
            Err(_) => return,
        }
    }
    events.push(splitter.finish());
    for event in events.into_iter().filter(|e| !e.is_empty()) {
        let Ok(out) = filter.check_event(&event) else {
            return;
        };
        let Some(data) = codec::sse::data(&out) else {
            continue;
        };
        let Ok(message) = serde_json::from_str::<Value>(&data) else {
            continue;
        };
        for m in std::iter::once(&message).chain(message.as_array().into_iter().flatten()) {
            if let Some(tools) = m["result"]["tools"].as_array() {
                for tool in tools {
                    assert_eq!(tool["name"], "add", "a hidden tool got through: {data}");
                }
            }
        }
    }
}

/// An authority (`Host`, absolute-form target, CONNECT): its canonical form reads back
/// as itself.
pub fn authority(input: &str) {
    if let Ok(parsed) = agentnet_policy::authority::parse(input, 80) {
        let again = agentnet_policy::authority::parse(&parsed.to_string(), 80)
            .expect("a canonical authority parses");
        assert_eq!(again, parsed, "canonical form of {input:?} is not stable");
    }
}

fn index() -> Arc<Index> {
    static INDEX: OnceLock<Arc<Index>> = OnceLock::new();
    INDEX
        .get_or_init(|| {
            let yaml = format!("{}{}", testing::BACKENDS, testing::ADD_ONLY_POLICY);
            Arc::new(testing::index(&yaml))
        })
        .clone()
}

fn caller_request() -> Request {
    let source = Source::service_account("cluster.local", "agents", "agent").expect("source");
    let http = HttpRequest::new("POST", "/mcp", "mcp.tools:8080", 80).expect("http");
    Request::new(
        source,
        BackendRef::new("tools", "mcp"),
        http,
        Message::Mcp(McpMessage::tool_call("add")),
    )
}
