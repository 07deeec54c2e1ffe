//! agentnet-sidecar with its policy from a real API server: `kubectl apply` of an
//! XAccessPolicy changes the next decision, deleting it reverts it, and when the API
//! server goes away the last policy stays in force. The test runs its own control
//! plane, because it stops it.

use std::net::SocketAddr;
use std::time::Duration;

use agentnet_e2e::eventually;
use agentnet_e2e::sidecar::{
    PrivateControlPlane, Reply, host_ip, http, start_mcp_server, start_sidecar, tool_call,
};
use anyhow::{Context, Result};
use serde_json::Value;

pub(crate) const POLICY: &str = r#"
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {name: add-only}
spec:
  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]
  action: Allow
  rules:
  - name: agent
    source: {type: ServiceAccount, serviceAccount: {namespace: agents, name: agent}}
    authorization:
      type: Inline
      mcp:
        mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS
        methods: [{name: tools/call, params: [add]}]
"#;

pub(crate) fn backend(ns: &str, ip: &str, port: u16) -> String {
    format!(
        "apiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {{name: mcp, namespace: {ns}}}\nspec: {{mcp: {{serviceName: mcp, port: 8080}}}}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {{name: mcp, namespace: {ns}}}\nspec: {{ports: [{{name: http, port: 8080}}]}}\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: mcp-1, namespace: {ns}, labels: {{kubernetes.io/service-name: mcp}}}}\n\
         addressType: IPv4\nendpoints: [{{addresses: ['{ip}'], conditions: {{ready: true}}}}]\nports: [{{name: http, port: {port}}}]\n"
    )
}

fn arguments(tool: &str) -> Value {
    match tool {
        "add" => serde_json::json!({"a": 2, "b": 3}),
        _ => serde_json::json!({}),
    }
}

/// What the sidecar does with a tools/call of `tool` now: the tool's result, or the
/// denial's JSON-RPC error code.
pub(crate) async fn call(sidecar: SocketAddr, ns: &str, tool: &str) -> Result<Result<Value, i64>> {
    let authority = format!("mcp.{ns}:8080");
    let Reply { status, body } = http(
        sidecar,
        "POST",
        &format!("http://{authority}/mcp"),
        &authority,
        &tool_call(tool, arguments(tool)),
    )
    .await?;
    let reply: Value = serde_json::from_str(&body).with_context(|| format!("{status}: {body}"))?;
    match reply["error"]["code"].as_i64() {
        Some(code) => Ok(Err(code)),
        None => Ok(Ok(reply["result"].clone())),
    }
}

pub(crate) async fn expect(
    sidecar: SocketAddr,
    ns: &str,
    tool: &str,
    allowed: bool,
    what: &str,
) -> Result<()> {
    eventually(what, Duration::from_secs(30), || async move {
        let outcome = call(sidecar, ns, tool).await?;
        Ok(
            (outcome.is_ok() == allowed && outcome.err().is_none_or(|code| code == 403))
                .then_some(()),
        )
    })
    .await
}

#[tokio::test]
async fn policy_applied_with_kubectl_governs_the_next_call_and_survives_api_server_loss() {
    let cp = PrivateControlPlane::up().unwrap();
    cp.install_crds().unwrap();
    let ns = format!("tools-{}", std::process::id());
    cp.kubectl(&["create", "namespace", &ns], None).unwrap();
    let ip = host_ip().unwrap();
    let (_server, port) = start_mcp_server(&["--host", &ip, "--json-response"]).unwrap();
    cp.kubectl(&["apply", "-f", "-"], Some(&backend(&ns, &ip, port)))
        .unwrap();

    let log = tempfile::NamedTempFile::new().unwrap();
    let kubeconfig = cp.kubeconfig.to_string_lossy().into_owned();
    let args = [
        "--kubeconfig",
        &kubeconfig,
        "--namespace",
        "agents",
        "--service-account",
        "agent",
        "--log",
        "info",
    ];
    let (_sidecar, outbound, admin) = start_sidecar(&args, log.path()).unwrap();
    let ready = eventually(
        "the sidecar to sync and be ready",
        Duration::from_secs(60),
        || async move {
            Ok(http(admin, "GET", "/ready", "admin", "")
                .await
                .ok()
                .filter(|r| r.status == 200))
        },
    );
    ready.await.unwrap_or_else(|e| {
        panic!(
            "{e:#}\n{}",
            std::fs::read_to_string(log.path()).unwrap_or_default()
        )
    });

    // No policy on the backend: upstream's default allows.
    let result = call(outbound, &ns, "get-secret")
        .await
        .unwrap()
        .expect("allowed without a policy");
    assert_eq!(result["content"][0]["text"], "s3cr3t");

    cp.kubectl(&["apply", "-n", &ns, "-f", "-"], Some(POLICY))
        .unwrap();
    expect(
        outbound,
        &ns,
        "get-secret",
        false,
        "the applied policy to deny get-secret",
    )
    .await
    .unwrap();
    let sum = call(outbound, &ns, "add")
        .await
        .unwrap()
        .expect("add stays allowed");
    assert_eq!(sum["content"][0]["text"], "5");

    cp.kubectl(&["delete", "-n", &ns, "xaccesspolicy", "add-only"], None)
        .unwrap();
    expect(
        outbound,
        &ns,
        "get-secret",
        true,
        "deleting the policy to allow get-secret again",
    )
    .await
    .unwrap();

    cp.kubectl(&["apply", "-n", &ns, "-f", "-"], Some(POLICY))
        .unwrap();
    expect(
        outbound,
        &ns,
        "get-secret",
        false,
        "the re-applied policy to deny get-secret",
    )
    .await
    .unwrap();
    cp.down().unwrap();
    assert!(
        cp.kubectl(&["get", "namespaces", "--request-timeout=2s"], None)
            .is_err(),
        "the API server is gone"
    );
    for _ in 0..3 {
        assert_eq!(
            call(outbound, &ns, "get-secret").await.unwrap(),
            Err(403),
            "the last policy stays in force"
        );
        let sum = call(outbound, &ns, "add").await.unwrap();
        assert_eq!(sum.expect("add")["content"][0]["text"], "5");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        http(admin, "GET", "/ready", "admin", "")
            .await
            .unwrap()
            .status,
        200,
        "still ready on the last good policy"
    );
}
