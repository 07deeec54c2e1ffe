//! The built binary: its audit log, and a graceful shutdown on SIGTERM that lets an
//! open SSE stream finish.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::common::eventually;
use crate::common::http::{get, mcp_post, modern, post, post_to, send};
use crate::common::manifests::python_mcp;
use crate::common::peers::Peer;
use crate::common::sidecar::SidecarProcess;

const URL: &str = "http://mcp.tools:8080/mcp";

#[tokio::test]
async fn sigterm_drains_an_open_stream_then_exits_zero_and_every_decision_is_audited() {
    let server = Peer::python("mcp_server.py", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), python_mcp(server.port)).unwrap();
    let mut sidecar = SidecarProcess::start(dir.path(), &["--drain-timeout", "20s"]).await;
    let secret = json!({"jsonrpc":"2.0","id":9,"method":"tools/call",
        "params":{"name":"get-secret","arguments":{"password":"hunter2"}}});
    let denied = post(sidecar.outbound, URL, &secret, &[]).await;
    assert_eq!(denied.json()["error"]["code"], 403);
    let stream = open_slow_stream(&sidecar).await;

    sidecar.signal("TERM");
    assert_draining(&mut sidecar).await;
    assert_eq!(
        post_to(server.addr(), "/release", &json!({})).await.status,
        200
    );
    let rest = stream.collect().await.unwrap().to_bytes();
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.contains("released"),
        "the stream finished during the drain"
    );
    let exited = tokio::time::timeout(Duration::from_secs(10), sidecar.child.wait());
    let status = exited.await.unwrap().unwrap();
    assert!(status.success(), "exit status {status}");
    assert_audited(&mut sidecar).await;
}

/// A 2026-07-28 call of `slow-stream`, read up to its first event.
async fn open_slow_stream(sidecar: &SidecarProcess) -> Incoming {
    let slow = modern("tools/call", json!(1), json!({"name": "slow-stream"}));
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "slow-stream"),
    ];
    let resp = send(sidecar.outbound, mcp_post(URL, &slow, &headers)).await;
    let mut stream = resp.into_body();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.frame());
    let first = first.await.unwrap().unwrap().unwrap();
    let first = String::from_utf8_lossy(first.data_ref().unwrap()).into_owned();
    assert!(first.contains("slow-stream started"), "{first}");
    stream
}

/// Not ready, not accepting, and still running while the stream is open.
async fn assert_draining(sidecar: &mut SidecarProcess) {
    let (admin, outbound) = (sidecar.admin, sidecar.outbound);
    let not_ready = || async move { (get(admin, "/ready").await.status == 503).then_some(()) };
    eventually("readiness to drop", Duration::from_secs(10), not_ready).await;
    let closed = || async move {
        let refused = tokio::net::TcpStream::connect(outbound).await.is_err();
        refused.then_some(())
    };
    eventually(
        "the outbound listener to close",
        Duration::from_secs(10),
        closed,
    )
    .await;
    let waited = tokio::time::timeout(Duration::from_millis(300), sidecar.child.wait());
    assert!(waited.await.is_err(), "it waits for the open stream");
}

/// One JSON record per request, with the decision and no tool arguments.
async fn assert_audited(sidecar: &mut SidecarProcess) {
    let mut lines = Vec::new();
    while let Ok(Some(line)) = sidecar.stdout.next_line().await {
        lines.push(line);
    }
    let all = lines.join("\n");
    assert!(!all.contains("hunter2"), "tool arguments are never logged");
    let parse = |l: &String| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
    let records: Vec<Value> = lines.iter().map(parse).collect();
    let of = |target: &str| {
        records
            .iter()
            .filter(|r| r["target"] == target)
            .collect::<Vec<_>>()
    };
    let fields = |r: &Value, names: &[&str]| names.iter().map(|n| r[n].clone()).collect::<Vec<_>>();
    let (denied, allowed) = (of("get-secret"), of("slow-stream"));
    assert_eq!(
        (denied.len(), allowed.len()),
        (1, 1),
        "one record per request: {all}"
    );
    let names = [
        "decision",
        "status",
        "backend",
        "protocol",
        "policy",
        "source",
        "generation",
    ];
    let want = json!([
        "deny",
        200,
        "tools/mcp",
        "mcp",
        "tools/agent-tools",
        "spiffe://cluster.local/ns/agents/sa/agent",
        1
    ]);
    assert_eq!(Value::from(fields(denied[0], &names)), want);
    let names = ["decision", "rule", "method", "status"];
    assert_eq!(
        Value::from(fields(allowed[0], &names)),
        json!(["allow", "agent", "tools/call", 200])
    );
    let allowed = allowed[0];
    assert!(allowed["time"].is_string() && allowed["latency_ms"].is_number());
    assert!(
        allowed["reason"]
            .as_str()
            .unwrap()
            .starts_with("allowed by rule agent")
    );
}
