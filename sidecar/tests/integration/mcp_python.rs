//! The Python `mcp` SDK (server and client, both transport eras) through the sidecar.

use std::time::Duration;

use http_body_util::BodyExt;
use serde_json::json;

use crate::common::http::{modern, post, post_to, send};
use crate::common::manifests::python_mcp;
use crate::common::peers::{Peer, err, mcp_client, ok};
use crate::common::sidecar::Sidecar;

const OPS: &[&str] = &[
    "list-tools",
    r#"call:add:{"a":2,"b":3}"#,
    r#"call:get-secret"#,
    "list-resources",
    "read:memo://public",
    "read:memo://private",
    "list-prompts",
];

fn assert_enforced(out: &serde_json::Value) {
    assert_eq!(
        ok(out, 0)["tools"],
        json!(["add", "slow-stream"]),
        "tools/list is filtered: {out}"
    );
    assert_eq!(ok(out, 1)["text"], json!(["5"]));
    let denied = err(out, 2);
    assert_eq!(
        (denied["code"].as_i64(), denied["message"].as_str()),
        (Some(403), Some("Access to this tool is forbidden."))
    );
    assert_eq!(
        (
            denied["data"]["policy"].as_str(),
            denied["data"]["rule"].as_str()
        ),
        (Some("tools/agent-tools"), None)
    );
    let reason = denied["data"]["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        "no rule admits tool get-secret for spiffe://cluster.local/ns/agents/sa/agent on backend tools/mcp"
    );
    assert_eq!(ok(out, 3)["resources"], json!(["memo://public"]));
    assert_eq!(ok(out, 4)["text"], json!(["public memo"]));
    assert_eq!(err(out, 5)["code"], 403);
    assert_eq!(ok(out, 6)["prompts"], json!(["greet"]));
}

#[tokio::test]
async fn python_sdk_legacy_era_through_http_proxy() {
    let server = Peer::python("mcp_server.py", &[]).await;
    let sidecar = Sidecar::start(&python_mcp(server.port), &[]).await;
    let out = mcp_client(
        "http://mcp.tools:8080/mcp",
        "legacy",
        Some(&sidecar.proxy_url()),
        OPS,
    )
    .await;
    assert_eq!(out["protocol_version"], "2025-11-25", "{out}");
    assert_enforced(&out);
    sidecar.stop().await;
}

#[tokio::test]
async fn python_sdk_2026_07_28_era_through_backends_url() {
    let server = Peer::python("mcp_server.py", &["--json-response"]).await;
    let sidecar = Sidecar::start(&python_mcp(server.port), &[]).await;
    let out = mcp_client(
        &sidecar.backend_url("tools", "mcp", "/mcp"),
        "2026-07-28",
        None,
        OPS,
    )
    .await;
    assert_eq!(out["protocol_version"], "2026-07-28", "{out}");
    assert_enforced(&out);
    sidecar.stop().await;
}

#[tokio::test]
async fn sse_events_reach_the_client_before_the_stream_ends() {
    let server = Peer::python("mcp_server.py", &[]).await;
    let sidecar = Sidecar::start(&python_mcp(server.port), &[]).await;
    let body = modern(
        "tools/call",
        json!(1),
        json!({"name": "slow-stream", "arguments": {}}),
    );
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "slow-stream"),
    ];
    let resp = send(
        sidecar.outbound,
        crate::common::http::mcp_post("http://mcp.tools:8080/mcp", &body, &headers),
    )
    .await;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["x-accel-buffering"], "no");
    let mut body = resp.into_body();
    let mut seen = String::new();
    while !seen.contains("slow-stream started") {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("first event")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&frame.into_data().unwrap()));
    }
    assert!(
        !seen.contains("released"),
        "the tool is still waiting, so the result cannot have arrived: {seen}"
    );
    // Only now does the server finish the stream.
    assert_eq!(
        post_to(server.addr(), "/release", &json!({})).await.status,
        200
    );
    let rest = body.collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&rest).contains("released"));
    sidecar.stop().await;
}

/// A legacy session: `initialize`, then the session id the server chose.
async fn initialize(sidecar: &Sidecar, url: &str) -> String {
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let reply = post(sidecar.outbound, url, &init, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.headers["mcp-session-id"].to_str().unwrap().to_owned()
}

/// A bodiless request in the session: its status and content type.
async fn bodiless(sidecar: &Sidecar, method: &str, url: &str, session: &str) -> (u16, String) {
    let req = http::Request::builder().method(method).uri(url);
    let req = req
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session);
    let req = req.header("mcp-protocol-version", "2025-11-25");
    let resp = send(sidecar.outbound, req.body(Default::default()).unwrap()).await;
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status().as_u16(), content_type.unwrap_or_default())
}

#[tokio::test]
async fn legacy_sessions_keep_their_headers_get_stream_and_delete() {
    let server = Peer::python("mcp_server.py", &[]).await;
    let sidecar = Sidecar::start(&python_mcp(server.port), &[]).await;
    let url = sidecar.backend_url("tools", "mcp", "");
    let session = initialize(&sidecar, &url).await;
    let in_session = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let rpc = |body: serde_json::Value| {
        let (sidecar, url) = (&sidecar, &url);
        async move { post(sidecar.outbound, url, &body, &in_session).await }
    };
    let note = rpc(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
    assert_eq!(note.status, 202, "a notification keeps its 202");
    let list = rpc(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}))
        .await
        .message();
    let tools: Vec<_> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(tools, [json!("add"), json!("slow-stream")]);
    let stream = bodiless(&sidecar, "GET", &url, &session).await;
    assert_eq!(
        stream,
        (200, "text/event-stream".to_owned()),
        "the GET stream opens"
    );
    assert_eq!(bodiless(&sidecar, "DELETE", &url, &session).await.0, 200);
    let after = rpc(json!({"jsonrpc":"2.0","id":2,"method":"tools/list"})).await;
    assert_eq!(
        after.status, 404,
        "the server's 404 for an ended session passes through"
    );
    sidecar.stop().await;
}
