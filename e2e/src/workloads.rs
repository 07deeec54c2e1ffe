//! Workloads for the real-node tests, as YAML: the Python MCP SDK server as a
//! Deployment behind a Service with its XBackend and policy, and agent Pods running
//! `hack/peers/agent_probe.py` (or any command) from the peers image.

use anyhow::{Result, bail};
use serde_json::Value;

use crate::{TestNs, output_text};

/// The namespace label that opts a namespace in.
pub const OPT_IN: (&str, &str) = ("agentnet.dev/inject", "enabled");

/// The MCP server `tools` (Deployment, Service, XBackend) in `ns`, without a sidecar,
/// and a policy letting the ServiceAccounts `callers` call the `allowed` tools.
pub fn tools_yaml(ns: &str, image: &str, callers: &[&str], allowed: &[&str]) -> String {
    let rules: String = callers
        .iter()
        .map(|sa| {
            format!(
                r#"
  - name: {sa}
    source: {{type: ServiceAccount, serviceAccount: {{name: {sa}}}}}
    authorization:
      type: Inline
      mcp:
        mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS
        methods: [{{name: tools/call, params: [{tools}]}}]"#,
                tools = allowed.join(", ")
            )
        })
        .collect();
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: tools, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: tools}}}}
  template:
    metadata: {{labels: {{app: tools, agentnet.dev/inject: disabled}}}}
    spec:
      containers:
      - name: server
        image: {image}
        imagePullPolicy: IfNotPresent
        command: [python3, /opt/peers/bin/mcp_server.py, --host, 0.0.0.0, --port, "8080", --json-response]
        readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: tools, namespace: {ns}}}
spec:
  selector: {{app: tools}}
  ports: [{{name: http, port: 8080}}]
---
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {{name: tools, namespace: {ns}}}
spec: {{mcp: {{serviceName: tools, port: 8080}}}}
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {{name: tools-callers, namespace: {ns}}}
spec:
  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: tools}}]
  action: Allow
  rules:{rules}
"#
    )
}

/// A ServiceAccount `sa` and a Pod `name` running `command` in the peers image.
pub fn agent_pod_yaml(
    ns: &str,
    name: &str,
    sa: &str,
    image: &str,
    command: &[&str],
    annotations: &[(&str, &str)],
    grace_seconds: u32,
) -> String {
    let command = serde_json::to_string(command).unwrap_or_default();
    let annotations: String = annotations
        .iter()
        .map(|(k, v)| {
            format!(
                "\n    {k}: {}",
                serde_json::to_string(v).unwrap_or_default()
            )
        })
        .collect();
    format!(
        r#"
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {sa}, namespace: {ns}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {ns}
  annotations:{annotations}
    agentnet.dev/log-level: info
spec:
  serviceAccountName: {sa}
  terminationGracePeriodSeconds: {grace_seconds}
  containers:
  - name: agent
    image: {image}
    imagePullPolicy: IfNotPresent
    command: {command}
"#
    )
}

/// Applies YAML in the test's namespace; fails with kubectl's message.
pub fn apply(ns: &TestNs, yaml: &str) -> Result<()> {
    let out = ns.apply_yaml(yaml)?;
    if !out.status.success() {
        bail!("kubectl apply failed: {}\n{yaml}", output_text(&out));
    }
    Ok(())
}

/// The tools server's own counters (`GET /stats` on its pod, from the node).
pub async fn tools_stats(ns: &TestNs) -> Result<Value> {
    let ip = ns.cluster.kubectl_ok(&[
        "-n",
        &ns.name,
        "get",
        "pods",
        "-l",
        "app=tools",
        "-o",
        "jsonpath={.items[0].status.podIP}",
    ])?;
    let body = crate::http_get(&format!("{}:8080", ip.trim()), "/stats").await?;
    Ok(serde_json::from_str(&body)?)
}

/// Waits for the tools Deployment to be available.
pub fn wait_tools(ns: &TestNs) -> Result<()> {
    ns.cluster.kubectl_ok(&[
        "-n",
        &ns.name,
        "rollout",
        "status",
        "deployment/tools",
        "--timeout=120s",
    ])?;
    Ok(())
}
