//! Manifests for the sidecar's `--config-dir`, as a user would write them.

/// An XBackend `<ns>/<name>` (protocol `mcp` or `a2a`) behind Service `<name>` on
/// `port`, whose one ready endpoint is 127.0.0.1:`target`.
pub fn service_backend(protocol: &str, ns: &str, name: &str, port: u16, target: u16) -> String {
    format!(
        r#"
---
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {{name: {name}, namespace: {ns}}}
spec: {{{protocol}: {{serviceName: {name}, port: {port}}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {ns}}}
spec: {{ports: [{{port: {port}, name: http}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {name}-1, namespace: {ns}, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: IPv4
endpoints: [{{addresses: [127.0.0.1], conditions: {{ready: true}}}}]
ports: [{{name: http, port: {target}}}]
"#
    )
}

/// An external XBackend at `hostname:port` (reached with TLS).
pub fn external_backend(ns: &str, name: &str, hostname: &str, port: u16) -> String {
    format!(
        "\n---\napiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{mcp: {{hostname: {hostname}, port: {port}}}}}\n"
    )
}

/// An Allow XAccessPolicy on `backend` with one rule for ServiceAccount agents/agent;
/// `authorization` is the rule's YAML authorization block (indented by 6).
pub fn allow_agent(ns: &str, name: &str, backend: &str, authorization: &str) -> String {
    format!(
        r#"
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {{name: {name}, namespace: {ns}}}
spec:
  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: {backend}}}]
  action: Allow
  rules:
  - name: agent
    source: {{type: ServiceAccount, serviceAccount: {{namespace: agents, name: agent}}}}
    authorization:
{authorization}
"#
    )
}

/// The MCP policy most tests use: base protocol, two tools, prompts, the resource
/// list and one resource.
pub const MCP_AUTHORIZATION: &str = r#"      type: Inline
      mcp:
        mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS
        methods:
        - {name: tools/call, params: [add, slow-stream]}
        - {name: prompts}
        - {name: resources/list}
        - {name: resources/read, params: ["memo://public"]}"#;

/// The Python MCP server as `tools/mcp` (Service port 8080) with the standard policy.
pub fn python_mcp(target: u16) -> String {
    service_backend("mcp", "tools", "mcp", 8080, target)
        + &allow_agent("tools", "agent-tools", "mcp", MCP_AUTHORIZATION)
}

/// An upstream at 127.0.0.1:`target` as `tools/mcp` (Service port 8080) with one
/// Allow policy `tools/agent-tools` for agents/agent.
pub fn upstream_mcp(target: u16, authorization: &str) -> String {
    service_backend("mcp", "tools", "mcp", 8080, target)
        + &allow_agent("tools", "agent-tools", "mcp", authorization)
}
