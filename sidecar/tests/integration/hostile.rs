//! A hostile agent against real servers: every spelling of a backend's address is that
//! backend, a message that two decoders would read differently never reaches the
//! server, and compressed answers (which the list filter could not read) are never
//! offered.

use serde_json::{Value, json};

use crate::common::http::{modern, post, read, send};
use crate::common::manifests::{allow_agent, python_mcp, service_backend};
use crate::common::peers::{Peer, err, mcp_client, ok};
use crate::common::sidecar::Sidecar;

/// Spellings of 127.0.0.1, the endpoint address of the backend's Service, that some
/// client or resolver reads as that address.
const LOOPBACK_SPELLINGS: &[&str] = &[
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "0x7F000001",
    "127.0.0.1.",
    "agent:secret@127.0.0.1",
];

fn headers_for<'a>(method: &'a str, name: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", method),
    ];
    if !name.is_empty() {
        h.push(("mcp-name", name));
    }
    h
}

fn tool_names(message: &Value) -> Vec<String> {
    message["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tool list: {message}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn every_spelling_of_an_endpoint_address_is_policed_as_its_backend() {
    let server = Peer::python("mcp_server.py", &["--json-response"]).await;
    let sidecar = Sidecar::start(&python_mcp(server.port), &[]).await;
    for host in LOOPBACK_SPELLINGS {
        let uri = format!("http://{host}:{}/mcp", server.port);
        let call = modern("tools/call", json!(1), json!({"name": "get-secret"}));
        let reply = post(
            sidecar.outbound,
            &uri,
            &call,
            &headers_for("tools/call", "get-secret"),
        )
        .await;
        let message = reply.message();
        assert_eq!(message["error"]["code"], 403, "{uri}: {message}");
        assert_eq!(
            message["error"]["data"]["policy"], "tools/agent-tools",
            "{uri}: decided by the backend's policy: {message}"
        );

        let list = modern("tools/list", json!(2), json!({}));
        let reply = post(
            sidecar.outbound,
            &uri,
            &list,
            &headers_for("tools/list", ""),
        )
        .await;
        assert_eq!(
            tool_names(&reply.message()),
            ["add", "slow-stream"],
            "{uri}: the list is filtered"
        );
    }
    let stats = server.stats().await;
    assert_eq!(stats["tool_calls"].get("get-secret"), None, "{stats}");
    sidecar.stop().await;
}

/// The reference server with its own client library (httpx in the Python SDK) naming
/// the backend by a numeric spelling of its endpoint address, as an agent would that
/// was told "the server is at 2130706433".
#[tokio::test]
async fn server_everything_reached_by_a_numeric_address_is_still_policed() {
    let server = Peer::everything().await;
    let authorization = r#"      type: Inline
      mcp:
        mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS
        methods:
        - {name: tools/call, params: [echo]}"#;
    let manifests = service_backend("mcp", "tools", "everything", 3001, server.port)
        + &allow_agent("tools", "everything-tools", "everything", authorization);
    let sidecar = Sidecar::start(&manifests, &[]).await;
    let url = format!("http://2130706433:{}/mcp", server.port);
    let ops = [
        "list-tools",
        r#"call:echo:{"message":"hi"}"#,
        r#"call:get-sum:{"a":2,"b":40}"#,
    ];
    let out = mcp_client(&url, "auto", Some(&sidecar.proxy_url()), &ops).await;
    assert_eq!(ok(&out, 0)["tools"], json!(["echo"]), "{out}");
    assert!(
        ok(&out, 1)["text"][0].as_str().unwrap().contains("hi"),
        "{out}"
    );
    assert_eq!(err(&out, 2)["code"], 403, "{out}");
    sidecar.stop().await;
}

/// Bodies a case-insensitive or last-member-wins decoder (Go's `encoding/json`, many
/// others) would read as a call of `get-secret`, or as another method, while a
/// first-member-wins reading sees an allowed `add`.
fn ambiguous_bodies() -> Vec<&'static str> {
    vec![
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","name":"get-secret","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","Name":"get-secret","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","n\u0061me":"get-secret","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","Method":"resources/read","params":{"name":"add","uri":"memo://private"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{}},"params":{"name":"get-secret"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"ID":2,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}"#,
    ]
}

#[tokio::test]
async fn messages_two_decoders_would_read_differently_never_reach_the_server() {
    let server = Peer::python("mcp_server.py", &["--json-response"]).await;
    let sidecar = Sidecar::start(&python_mcp(server.port), &[]).await;
    let before = server.stats().await["mcp_requests"].as_u64().unwrap();
    for body in ambiguous_bodies() {
        let req = http::Request::post("http://mcp.tools:8080/mcp")
            .header("host", "mcp.tools:8080")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let reply = read(send(sidecar.outbound, req).await).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        assert_eq!(reply.json()["error"]["code"], -32600, "{body}");
    }
    let after = server.stats().await;
    assert_eq!(
        after["mcp_requests"].as_u64().unwrap(),
        before,
        "the server saw none of them: {after}"
    );
    sidecar.stop().await;
}

#[tokio::test]
async fn compression_is_never_offered_so_lists_stay_readable() {
    let server = Peer::python("mcp_server.py", &["--json-response"]).await;
    let sidecar = Sidecar::start(&python_mcp(server.port), &[]).await;
    let list = modern("tools/list", json!(1), json!({}));
    let mut headers = headers_for("tools/list", "");
    headers.push(("accept-encoding", "gzip, deflate, br, zstd"));
    let reply = post(
        sidecar.outbound,
        "http://mcp.tools:8080/mcp",
        &list,
        &headers,
    )
    .await;
    assert_eq!(reply.headers.get("content-encoding"), None);
    assert_eq!(tool_names(&reply.message()), ["add", "slow-stream"]);
    sidecar.stop().await;
}
