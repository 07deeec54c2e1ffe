//! How policy takes effect: hot reloads, bad manifests, ExternalAuth, the backend
//! default, and refusing everything before the first sync.

use std::time::Duration;

use http::Request;
use http_body_util::Full;
use serde_json::{Value, json};

use crate::common::eventually;
use crate::common::http::{get, post, read, send};
use crate::common::manifests::{MCP_AUTHORIZATION, service_backend, upstream_mcp};
use crate::common::sidecar::Sidecar;
use crate::common::upstream::Upstream;

const URL: &str = "http://mcp.tools:8080/mcp";

fn call(tool: &str) -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool,"arguments":{}}})
}

fn manifests(upstream: &Upstream, authorization: &str) -> String {
    upstream_mcp(upstream.port, authorization)
}

#[tokio::test]
async fn policy_changes_apply_to_the_next_request_and_bad_manifests_are_skipped() {
    let upstream = Upstream::start().await;
    let sidecar = Sidecar::start(&manifests(&upstream, MCP_AUTHORIZATION), &[]).await;
    assert_eq!(
        post(sidecar.outbound, URL, &call("get-secret"), &[])
            .await
            .json()["error"]["code"],
        403
    );
    let wider =
        MCP_AUTHORIZATION.replace("params: [add, slow-stream]", "params: [add, get-secret]");
    sidecar.rewrite(&manifests(&upstream, &wider)).await;
    assert_eq!(
        post(sidecar.outbound, URL, &call("get-secret"), &[])
            .await
            .json()["result"]["method"],
        "tools/call"
    );

    std::fs::write(sidecar.dir.path().join("broken.yaml"), "kind: [").unwrap();
    std::fs::write(
        sidecar.dir.path().join("policy.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {}\n",
    )
    .unwrap();
    let admin = sidecar.admin;
    let problems = eventually(
        "both files to be reported",
        Duration::from_secs(10),
        || async move {
            let config = get(admin, "/config").await.json();
            (config["problems"].as_array().unwrap().len() == 2)
                .then_some(config["problems"].clone())
        },
    )
    .await;
    assert!(
        problems.to_string().contains("metadata.name is required"),
        "{problems}"
    );
    assert!(sidecar.metrics().await.contains("agentnet_config_errors 2"));
    let still = post(sidecar.outbound, URL, &call("get-secret"), &[]).await;
    assert_eq!(
        still.json()["result"]["method"],
        "tools/call",
        "the last good policy stays in force"
    );
    assert_eq!(get(sidecar.admin, "/ready").await.status, 200);
    sidecar.stop().await;
}

#[tokio::test]
async fn external_auth_requirements_fail_closed() {
    let upstream = Upstream::start().await;
    let ext = "\n---\napiVersion: agentic.networking.x-k8s.io/v1alpha1\nkind: XAccessPolicy\nmetadata: {name: ext, namespace: tools}\nspec:\n  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]\n  action: ExternalAuth\n  externalAuth: {protocol: HTTP, backendRef: {name: authz, port: 8000}, http: {path: /check}}\n";
    let sidecar = Sidecar::start(&(manifests(&upstream, MCP_AUTHORIZATION) + ext), &[]).await;
    let reply = post(sidecar.outbound, URL, &call("add"), &[]).await;
    let error = &reply.json()["error"];
    assert_eq!(
        (reply.status.as_u16(), error["code"].as_i64()),
        (200, Some(403))
    );
    assert!(
        error["data"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("ExternalAuth not enforceable: Service tools/authz not found"),
        "{error}"
    );
    assert_eq!(error["data"]["policy"], "tools/ext");
    assert_eq!(upstream.seen(), 0);
    sidecar.stop().await;
}

#[tokio::test]
async fn backends_without_policy_follow_the_backend_default() {
    let upstream = Upstream::start().await;
    let open = service_backend("mcp", "tools", "mcp", 8080, upstream.port);
    let allowed = Sidecar::start(&open, &[]).await;
    let result = post(allowed.outbound, URL, &call("anything"), &[])
        .await
        .json()["result"]
        .clone();
    // The upstream sees the Host the request named (a proxy replaces the client's).
    let want = json!({"method": "tools/call", "path": "/mcp", "host": "mcp.tools:8080"});
    assert_eq!(result, want);
    let by_name = allowed.backend_url("tools", "mcp", "");
    let result = post(
        allowed.outbound,
        &by_name,
        &call("x"),
        &[("host", "elsewhere")],
    )
    .await;
    assert_eq!(
        result.json()["result"]["host"],
        "mcp.tools.svc.cluster.local:8080"
    );
    allowed.stop().await;
    let denied = Sidecar::start(&open, &["--backend-default", "deny"]).await;
    let reply = post(denied.outbound, URL, &call("anything"), &[]).await;
    assert!(
        reply.json()["error"]["data"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("denied by default"),
        "{}",
        reply.text()
    );
    denied.stop().await;
}

#[tokio::test]
async fn everything_fails_closed_before_the_first_policy_sync() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let unreachable = "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n";
    std::fs::write(&kubeconfig, unreachable).unwrap();
    let path = kubeconfig.to_str().unwrap().to_owned();
    let sidecar = Sidecar::start_in(dir, &["--kubeconfig", &path]).await;
    let ready = get(sidecar.admin, "/ready").await;
    assert_eq!(
        (ready.status.as_u16(), ready.text().as_str()),
        (503, "not ready: policy not synced yet\n")
    );
    let reply = post(sidecar.outbound, URL, &call("add"), &[]).await;
    assert_eq!(reply.status.as_u16(), 503);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("not synced")
    );
    let passthrough = read(
        send(
            sidecar.outbound,
            Request::get("http://example.com/")
                .header("host", "example.com")
                .body(Full::default())
                .unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!(
        passthrough.status.as_u16(),
        503,
        "not even the outbound default applies before the sync"
    );
    sidecar.stop().await;
}
