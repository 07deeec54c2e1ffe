//! Requests the sidecar must refuse before any server sees them, and exact denials.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};

use crate::common::http::{modern, post, read, send};
use crate::common::manifests::python_mcp;
use crate::common::peers::Peer;
use crate::common::sidecar::Sidecar;

const URL: &str = "http://mcp.tools:8080/mcp";

fn raw(body: impl Into<Bytes>, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut b = Request::post(URL)
        .header("host", "mcp.tools:8080")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(body.into())).unwrap()
}

type Headers = Vec<(&'static str, &'static str)>;

/// Each case: the body, its headers, and the status, JSON-RPC code and id expected.
fn cases() -> Vec<(String, Headers, u16, Value, Value)> {
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add"}});
    let big = json!({"jsonrpc":"2.0","id":2,"method":"tools/call",
        "params":{"name":"add","arguments":{"pad":"x".repeat(4096)}}});
    let lying = vec![
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "add"),
    ];
    let smuggled = modern("tools/call", json!(3), json!({"name": "get-secret"}));
    let unnamed = modern("tools/call", json!(4), json!({"name": "add"}));
    let invalid = json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":["add"]}});
    vec![
        (
            r#"{"jsonrpc":"2.0","id":1,"#.into(),
            vec![],
            400,
            json!(-32700),
            json!(null),
        ),
        (
            json!([call, call]).to_string(),
            vec![],
            400,
            json!(-32600),
            json!(null),
        ),
        (big.to_string(), vec![], 413, json!(null), json!(null)),
        (
            smuggled.to_string(),
            lying.clone(),
            400,
            json!(-32020),
            json!(3),
        ),
        (
            unnamed.to_string(),
            lying[..2].to_vec(),
            400,
            json!(-32020),
            json!(4),
        ),
        (invalid.to_string(), vec![], 400, json!(-32600), json!(5)),
    ]
}

#[tokio::test]
async fn malformed_batch_oversized_and_mismatched_requests_never_reach_the_server() {
    let server = Peer::python("mcp_server.py", &[]).await;
    let sidecar = Sidecar::start(&python_mcp(server.port), &["--max-body-bytes", "2048"]).await;
    let before = server.stats().await["mcp_requests"].as_u64().unwrap();
    for (body, headers, status, code, id) in cases() {
        let reply = read(send(sidecar.outbound, raw(body.clone(), &headers)).await).await;
        let json = serde_json::from_slice::<Value>(&reply.body).unwrap_or_default();
        let got = (
            reply.status.as_u16(),
            json["error"]["code"].clone(),
            json["id"].clone(),
        );
        assert_eq!(got, (status, code, id), "{body:.80}");
    }
    let after = server.stats().await["mcp_requests"].as_u64().unwrap();
    assert_eq!(after, before, "the server saw none of them");
    sidecar.stop().await;
}

#[tokio::test]
async fn denials_are_upstreams_json_with_the_ids_type_kept() {
    let server = Peer::python("mcp_server.py", &[]).await;
    let sidecar = Sidecar::start(&python_mcp(server.port), &[]).await;
    let before = server.stats().await["mcp_requests"].as_u64().unwrap();
    for id in [json!("call-7"), json!(7)] {
        let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"get-secret","arguments":{}}});
        let reply = post(
            sidecar.outbound,
            URL,
            &body,
            &[("mcp-protocol-version", "2025-11-25")],
        )
        .await;
        assert_eq!(
            (
                reply.status.as_u16(),
                reply.headers["content-type"].to_str().unwrap()
            ),
            (200, "application/json")
        );
        let reason = "no rule admits tool get-secret for spiffe://cluster.local/ns/agents/sa/agent on backend tools/mcp";
        let want = json!({"jsonrpc":"2.0","id":id,"error":{"code":403,"message":"Access to this tool is forbidden.","data":{"policy":"tools/agent-tools","rule":null,"reason":reason}}});
        assert_eq!(reply.json(), want);
    }
    // A denied notification has no id to answer: a plain 403 with a JSON body.
    let note = post(
        sidecar.outbound,
        URL,
        &json!({"jsonrpc":"2.0","method":"tools/call","params":{"name":"get-secret"}}),
        &[],
    )
    .await;
    assert_eq!(
        (note.status.as_u16(), note.json()["error"].as_str()),
        (403, Some("forbidden"))
    );
    assert_eq!(
        server.stats().await["mcp_requests"].as_u64().unwrap(),
        before,
        "denied calls are not forwarded"
    );
    sidecar.stop().await;
}
