//! Shared pieces of agentnet's benchmark tools: the request scenarios the load generator
//! sends and the mock server answers.

use std::net::IpAddr;

use clap::ValueEnum;
use serde_json::json;

/// The capture benchmark's veth network (10.199.0.0/24): it exists only between two
/// network namespaces that `hack/bench.sh` creates, so nothing sent there leaves the
/// machine.
pub const CAPTURE_NET_PREFIX: [u8; 3] = [10, 199, 0];

/// Whether the load generator may connect to `ip`: loopback, or the capture
/// benchmark's veth network.
pub fn is_bench_address(ip: IpAddr) -> bool {
    ip.is_loopback() || matches!(ip, IpAddr::V4(v4) if v4.octets()[..3] == CAPTURE_NET_PREFIX)
}

/// One kind of request, as listed in BENCHMARKS.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// MCP `tools/call` with about 1 KiB of arguments; JSON response.
    ToolsCall,
    /// The same call, answered as a one-event SSE stream.
    ToolsCallSse,
    /// `tools/list` of 100 tools (the sidecar filters it to the allowed ones).
    ToolsList,
    /// A `tools/call` the policy denies (the sidecar answers; nothing is forwarded).
    Denied,
    /// A2A `SendMessage`.
    A2aSend,
}

/// Tool the allowed-call scenarios invoke; benchmark policies admit it.
pub const ALLOWED_TOOL: &str = "tool-007";
/// Tool the denied scenario invokes; benchmark policies never admit it.
pub const DENIED_TOOL: &str = "forbidden-tool";

impl Scenario {
    /// The JSON-RPC body of the request.
    pub fn body(self) -> Vec<u8> {
        let payload = "x".repeat(1000);
        let value = match self {
            Self::ToolsCall | Self::ToolsCallSse => {
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": ALLOWED_TOOL, "arguments": {"payload": payload}}})
            }
            Self::Denied => json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": DENIED_TOOL, "arguments": {"payload": payload}}}),
            Self::ToolsList => {
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
            }
            Self::A2aSend => json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {
                "message": {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": payload}]}}}),
        };
        serde_json::to_vec(&value).unwrap_or_default()
    }

    /// The `Accept` header an MCP or A2A client sends.
    pub fn accept(self) -> &'static str {
        match self {
            Self::A2aSend => "application/json",
            _ => "application/json, text/event-stream",
        }
    }

    /// Whether the response body must contain a JSON-RPC error (the denial).
    pub fn expects_error(self) -> bool {
        self == Self::Denied
    }
}

/// `count` tools named `tool-000`…, each with a small input schema.
pub fn tool_list(count: usize) -> serde_json::Value {
    let tools: Vec<_> = (0..count)
        .map(|i| {
            json!({"name": format!("tool-{i:03}"), "description": format!("benchmark tool {i}"),
                "inputSchema": {"type": "object", "properties": {"payload": {"type": "string"}}}})
        })
        .collect();
    json!({ "tools": tools })
}
