use super::*;

const MANIFESTS: &str = r#"
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {name: mcp, namespace: tools}
spec: {mcp: {serviceName: mcp, port: 8080}}
---
# a comment-only document and an unrelated kind are skipped
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: mcp, namespace: tools}
  spec: {ports: [{port: 8080}]}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: mcp-1, namespace: tools, labels: {kubernetes.io/service-name: mcp}}
  addressType: IPv4
  endpoints: [{addresses: [127.0.0.1]}]
  ports: [{port: 9000}]
---
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XAccessPolicy
metadata: {name: old}
spec:
  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]
  rules:
  - name: r
    source: {type: ServiceAccount, serviceAccount: {name: agent}}
    authorization: {type: InlineTools, tools: [add]}
"#;

#[test]
fn reads_every_kind_and_converts_v0alpha0_policies() {
    let s = snapshot(parse(MANIFESTS).unwrap());
    assert_eq!(
        (
            s.backends.len(),
            s.services.len(),
            s.endpoint_slices.len(),
            s.policies.len()
        ),
        (1, 1, 1, 1)
    );
    let policy = &s.policies[0];
    assert_eq!(policy.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        policy.spec.action,
        agentnet_api::v1alpha1::PolicyAction::Allow
    );
}

#[test]
fn one_bad_document_fails_the_file_and_names_it() {
    let bad = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {name: b}\nspec: {mcp: {port: \"x\"}}\n";
    let err = parse(bad).unwrap_err().to_string();
    assert!(err.starts_with("document 2: XBackend b:"), "{err}");
    let err = parse("a: [").unwrap_err().to_string();
    assert!(err.starts_with("document 1: not YAML"), "{err}");
    let err = parse("apiVersion: v1\nkind: Service\nmetadata: {}\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("metadata.name is required"), "{err}");
}
