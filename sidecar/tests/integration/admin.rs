//! The admin listener and the `explain` command.

use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};

use crate::common::http::{get, read, send};
use crate::common::manifests::{MCP_AUTHORIZATION, upstream_mcp};
use crate::common::sidecar::Sidecar;
use crate::common::upstream::Upstream;

async fn explain(sidecar: &Sidecar, query: &str, accept: &str) -> String {
    let req = Request::get(format!("/explain?{query}"))
        .header("host", "admin")
        .header("accept", accept)
        .body(Full::default())
        .unwrap();
    read(send(sidecar.admin, req).await).await.text()
}

async fn started() -> (Upstream, Sidecar) {
    let upstream = Upstream::start().await;
    let sidecar = Sidecar::start(&upstream_mcp(upstream.port, MCP_AUTHORIZATION), &[]).await;
    (upstream, sidecar)
}

#[tokio::test]
async fn admin_reports_liveness_readiness_and_metrics() {
    let (_upstream, sidecar) = started().await;
    assert_eq!(get(sidecar.admin, "/live").await.text(), "live\n");
    assert_eq!(get(sidecar.admin, "/ready").await.text(), "ready\n");
    let metrics = sidecar.metrics().await;
    let lines = [
        "agentnet_policy_index_generation 1",
        "agentnet_policy_synced 1",
        "agentnet_config_errors 0",
        "agentnet_policy_index_age_seconds",
    ];
    for line in lines {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    sidecar.stop().await;
}

#[tokio::test]
async fn admin_config_shows_the_configuration_and_the_compiled_index() {
    let (upstream, sidecar) = started().await;
    let config = get(sidecar.admin, "/config").await.json();
    let at = |pointer: &str| config.pointer(pointer).cloned().unwrap_or_default();
    let agent = "spiffe://cluster.local/ns/agents/sa/agent";
    assert_eq!(
        [at("/identity"), at("/synced"), at("/generation")],
        [json!(agent), json!(true), json!(1)]
    );
    let backend = "/index/backends/0";
    assert_eq!(
        at(&format!("{backend}/backend")),
        json!({"namespace": "tools", "name": "mcp"})
    );
    assert_eq!(at(&format!("{backend}/hasToolRules")), json!(true));
    let endpoint = format!("127.0.0.1:{}", upstream.port);
    assert_eq!(
        at(&format!("{backend}/destination/endpoints")),
        json!([endpoint])
    );
    assert_eq!(at("/config/limits/max_body_bytes"), json!(1048576));
    assert_eq!(at("/config/outbound_default"), json!("allow"));
    sidecar.stop().await;
}

#[tokio::test]
async fn admin_explains_decisions_as_text_and_json() {
    let (_upstream, sidecar) = started().await;
    let text = explain(&sidecar, "backend=tools/mcp&tool=get-secret", "text/plain").await;
    assert!(
        text.contains("Allow policy tools/agent-tools rule agent"),
        "{text}"
    );
    assert!(
        text.contains("DENY: no rule admits tool get-secret"),
        "{text}"
    );
    let json = |query: &'static str| {
        let sidecar = &sidecar;
        async move {
            serde_json::from_str::<Value>(&explain(sidecar, query, "application/json").await)
                .unwrap()
        }
    };
    let allowed = json("backend=tools/mcp&tool=add").await;
    let policy = json!({"namespace": "tools", "name": "agent-tools"});
    assert_eq!(
        [&allowed["decision"], &allowed["policy"], &allowed["rule"]],
        [&json!("allow"), &policy, &json!("agent")]
    );
    let other = json("backend=tools/mcp&tool=add&source=spiffe://cluster.local/ns/x/sa/y").await;
    assert_eq!(other["decision"], "deny");
    sidecar.stop().await;
}

#[tokio::test]
async fn explain_command_asks_the_sidecar_or_reads_a_config_dir() {
    let upstream = Upstream::start().await;
    let sidecar = Sidecar::start(&upstream_mcp(upstream.port, MCP_AUTHORIZATION), &[]).await;
    let bin = env!("CARGO_BIN_EXE_agentnet-sidecar");
    let admin = sidecar.admin.to_string();
    let out = tokio::process::Command::new(bin)
        .args([
            "explain",
            "--admin-addr",
            &admin,
            "--backend",
            "tools/mcp",
            "--tool",
            "add",
        ])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && text.contains("ALLOW: allowed by rule agent of policy tools/agent-tools"),
        "{text}"
    );
    let dir = sidecar.dir.path().to_str().unwrap();
    let source = "spiffe://cluster.local/ns/agents/sa/agent";
    let args = [
        "explain",
        "--config-dir",
        dir,
        "--backend",
        "tools/mcp",
        "--tool",
        "get-secret",
        "--source",
        source,
        "--json",
    ];
    let out = tokio::process::Command::new(bin)
        .args(args)
        .output()
        .await
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&json["decision"], &json["request"]),
        (&json!("deny"), &json!("tool get-secret"))
    );
    sidecar.stop().await;
}
