//! RateLimitPolicy: a burst of twice the limit gets exactly the limit through; other
//! tools and other callers are unaffected; the bucket refills over the period.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::eventually;
use http::Request;
use http_body_util::Full;

use crate::common::http::{Reply, post, read, send};
use crate::common::manifests::service_backend;
use crate::common::sidecar::Sidecar;
use crate::common::upstream::Upstream;

const URL: &str = "http://mcp.tools:8080/mcp";

/// 3 tools/call per 3 s for ServiceAccount agents/agent, one bucket per tool: a burst
/// of 6 finishes well within the second it takes to refill one token.
const LIMIT: &str = r#"
---
apiVersion: agentnet.dev/v1alpha1
kind: RateLimitPolicy
metadata: {name: calls, namespace: tools}
spec:
  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]
  limits:
  - name: per-tool
    source: {type: ServiceAccount, serviceAccount: {namespace: agents, name: agent}}
    mcp: {methods: [tools/call]}
    keyBy: [Source, Tool]
    requests: 3
    period: 3s
"#;

fn call(tool: &str, id: i64) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{}}})
}

/// Sends `n` calls of `tool` at once; returns the replies.
async fn burst(sidecar: &Sidecar, tool: &str, n: i64) -> Vec<Reply> {
    let calls = (0..n).map(|i| {
        let body = call(tool, i);
        let outbound = sidecar.outbound;
        async move { post(outbound, URL, &body, &[]).await }
    });
    futures::future::join_all(calls).await
}

fn limited(replies: &[Reply]) -> Vec<&Reply> {
    replies
        .iter()
        .filter(|r| r.json()["error"]["code"] == 429)
        .collect()
}

#[tokio::test]
async fn twice_the_limit_in_a_burst_gets_the_limit_through_per_tool_and_caller() {
    let upstream = Upstream::start().await;
    let manifests = service_backend("mcp", "tools", "mcp", 8080, upstream.port) + LIMIT;
    let sidecar = Sidecar::start(&manifests, &[]).await;
    let replies = burst(&sidecar, "add", 6).await;
    let refused = limited(&replies);
    assert_eq!(refused.len(), 3, "{replies:?}");
    assert_eq!(upstream.seen(), 3, "refused calls never reach the server");
    let r = refused[0];
    assert_eq!(r.status, 200, "a JSON-RPC error, like policy denials");
    assert!(
        r.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let error = &r.json()["error"];
    assert_eq!(error["message"], "Rate limit exceeded.");
    assert_eq!(error["data"]["limit"], "tools/calls/per-tool");
    assert!(
        limited(&burst(&sidecar, "echo", 3).await).is_empty(),
        "another tool has its own bucket"
    );
    let metrics = sidecar.metrics().await;
    assert!(
        metrics.contains(
            r#"agentnet_rate_limited_total{backend="tools/mcp",limit="tools/calls/per-tool"} 3"#
        ),
        "{metrics}"
    );
    let outbound = sidecar.outbound;
    eventually(
        "a token to refill",
        Duration::from_secs(10),
        || async move {
            let reply = post(outbound, URL, &call("add", 99), &[]).await;
            (reply.json()["result"]["method"] == "tools/call").then_some(())
        },
    )
    .await;
    sidecar.stop().await;

    let other = Sidecar::start(
        &manifests,
        &["--spiffe-id", "spiffe://cluster.local/ns/agents/sa/other"],
    )
    .await;
    assert!(
        limited(&burst(&other, "add", 6).await).is_empty(),
        "the limit names agents/agent only"
    );
    other.stop().await;
}

#[tokio::test]
async fn requests_without_a_json_rpc_id_get_http_429_with_retry_after() {
    let upstream = Upstream::start().await;
    let all = LIMIT
        .replace("    mcp: {methods: [tools/call]}\n", "")
        .replace("[Source, Tool]", "[Source]");
    let manifests = service_backend("mcp", "tools", "mcp", 8080, upstream.port) + &all;
    let sidecar = Sidecar::start(&manifests, &[]).await;
    let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(post(sidecar.outbound, URL, &note, &[]).await);
    }
    let last = statuses.pop().unwrap();
    assert_eq!(last.status, 429, "{}", last.text());
    assert!(last.headers.contains_key("retry-after"));
    assert_eq!(last.json()["limit"], "tools/calls/per-tool");
    assert!(statuses.iter().all(|r| r.status == 202), "{statuses:?}");
    let tunnel = Request::connect("mcp.tools:8080")
        .header("host", "mcp.tools:8080")
        .body(Full::default())
        .unwrap();
    let refused = read(send(sidecar.outbound, tunnel).await).await;
    assert_eq!(
        refused.status, 403,
        "a tunnel would hide the requests the limit counts"
    );
    assert!(
        refused
            .text()
            .contains("its rate limits count each request"),
        "{}",
        refused.text()
    );
    sidecar.stop().await;
}

/// `redis-server` (Debian package, installed by `hack/prereqs.sh`) on a free port, with
/// no persistence; killed when dropped.
struct Redis {
    url: String,
    child: tokio::process::Child,
}

impl Redis {
    async fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is required (hack/prereqs.sh installs it)");
        eventually(
            "redis-server to listen",
            Duration::from_secs(10),
            || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
            },
        )
        .await;
        Redis {
            url: format!("redis://127.0.0.1:{port}"),
            child,
        }
    }
}

#[tokio::test]
async fn global_limits_are_shared_by_every_sidecar_through_redis_and_fail_closed() {
    let mut redis = Redis::start().await;
    let upstream = Upstream::start().await;
    let global = format!("{LIMIT}    enforcement: Global\n");
    let manifests = service_backend("mcp", "tools", "mcp", 8080, upstream.port) + &global;
    let args = ["--rate-limit-redis-url", redis.url.as_str()];
    let (a, b) = tokio::join!(
        Sidecar::start(&manifests, &args),
        Sidecar::start(&manifests, &args)
    );
    assert!(limited(&burst(&a, "add", 3).await).is_empty());
    let refused = burst(&b, "add", 3).await;
    assert_eq!(
        limited(&refused).len(),
        3,
        "the bucket is shared: {refused:?}"
    );
    assert!(
        limited(&burst(&b, "echo", 1).await).is_empty(),
        "keyed per tool"
    );
    assert_eq!(upstream.seen(), 4);

    redis.child.kill().await.unwrap();
    let down = post(a.outbound, URL, &call("echo", 7), &[]).await;
    assert_eq!(
        down.status,
        503,
        "fails closed without its store: {}",
        down.text()
    );
    assert!(
        down.text()
            .contains("global rate limit store is unavailable"),
        "{}",
        down.text()
    );
    a.stop().await;
    b.stop().await;

    let unconfigured = Sidecar::start(&manifests, &[]).await;
    let reply = post(unconfigured.outbound, URL, &call("add", 8), &[]).await;
    assert_eq!(reply.status, 503);
    assert!(
        reply.text().contains("has no --rate-limit-redis-url"),
        "{}",
        reply.text()
    );
    unconfigured.stop().await;
}
