//! Shared unit-test (and fuzz-target) support: an index from YAML manifests, and the
//! fixtures several tests read.

use agentnet_policy::{Index, Settings, compile};

use crate::policy_source::manifest;

pub fn index(yaml: &str) -> Index {
    index_with(yaml, &Settings::default())
}

pub fn index_with(yaml: &str, settings: &Settings) -> Index {
    compile(
        &manifest::snapshot(manifest::parse(yaml).expect("a valid fixture")),
        settings,
    )
}

/// An MCP Service backend `tools/mcp` on port 8080 with two ready endpoints, and an
/// external one, `tools/remote`, at example.com:443.
pub const BACKENDS: &str = r#"
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {name: mcp, namespace: tools}
spec: {mcp: {serviceName: mcp, port: 8080}}
---
apiVersion: v1
kind: Service
metadata: {name: mcp, namespace: tools}
spec: {clusterIP: 10.0.0.9, ports: [{port: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: mcp-1, namespace: tools, labels: {kubernetes.io/service-name: mcp}}
addressType: IPv4
endpoints: [{addresses: [10.1.0.1]}, {addresses: [10.1.0.2]}, {addresses: [10.1.0.3], conditions: {ready: false}}]
ports: [{port: 9000}]
---
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {name: remote, namespace: tools}
spec: {mcp: {hostname: example.com, port: 443}}
"#;

/// An Allow policy on `tools/mcp`: agents/agent may call `add`, and the base protocol.
pub const ADD_ONLY_POLICY: &str = r#"
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {name: agents, namespace: tools}
spec:
  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]
  action: Allow
  rules:
  - name: add-only
    source: {type: ServiceAccount, serviceAccount: {namespace: agents, name: agent}}
    authorization:
      type: Inline
      mcp:
        mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS
        methods: [{name: tools/call, params: [add]}]
"#;
