//! A request body as an agent could send it, MCP or A2A, with or without the
//! 2026-07-28 routing headers: the codec accepts only unambiguous, single messages.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else { return };
    let headers: &[(&str, &str)] = match flags % 3 {
        0 => &[],
        1 => &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "add")],
        _ => &[("mcp-protocol-version", "2025-11-25")],
    };
    agentnet_sidecar::fuzzing::jsonrpc(body, flags & 0x80 != 0, headers);
});
