//! ExternalAuth backendRef resolution and RateLimitPolicy compilation, through
//! `compile` (the report and the decision), from YAML as users write it.

use agentnet_api::agentnet_dev::RateLimitPolicy;
use agentnet_api::reference_grant::ReferenceGrant;
use agentnet_api::v0alpha0::XBackend;
use agentnet_api::v1alpha1::XAccessPolicy;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Deserialize;

use crate::{
    BackendRef, HttpRequest, McpMessage, Message, Reason, Request, Settings, Snapshot, Source,
    compile,
};

fn snapshot(yaml: &str) -> Snapshot {
    let mut s = Snapshot::default();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let v = serde_yaml::Value::deserialize(doc).unwrap();
        match v["kind"].as_str().unwrap() {
            "XBackend" => s
                .backends
                .push(serde_yaml::from_value::<XBackend>(v).unwrap()),
            "XAccessPolicy" => s
                .policies
                .push(serde_yaml::from_value::<XAccessPolicy>(v).unwrap()),
            "Service" => s
                .services
                .push(serde_yaml::from_value::<Service>(v).unwrap()),
            "EndpointSlice" => s
                .endpoint_slices
                .push(serde_yaml::from_value::<EndpointSlice>(v).unwrap()),
            "ReferenceGrant" => s
                .reference_grants
                .push(serde_yaml::from_value::<ReferenceGrant>(v).unwrap()),
            "RateLimitPolicy" => s
                .rate_limits
                .push(serde_yaml::from_value::<RateLimitPolicy>(v).unwrap()),
            other => panic!("unexpected kind {other}"),
        }
    }
    s
}

const BACKEND: &str = "
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {name: mcp, namespace: tools}
spec: {mcp: {hostname: mcp.example.com, port: 443}}
---
apiVersion: v1
kind: Service
metadata: {name: authz, namespace: security}
spec: {clusterIP: 10.0.0.9, ports: [{port: 9191, name: grpc}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: authz-1, namespace: security, labels: {kubernetes.io/service-name: authz}}
addressType: IPv4
endpoints: [{addresses: [10.1.0.5]}]
ports: [{name: grpc, port: 50051}]
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {name: ext, namespace: tools}
spec:
  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]
  action: ExternalAuth
  externalAuth: {protocol: GRPC, backendRef: {name: authz, namespace: security, port: 9191}, grpc: {}}
";

const GRANT: &str = "
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: authz, namespace: security}
spec:
  from: [{group: agentic.networking.x-k8s.io, kind: XAccessPolicy, namespace: tools}]
  to: [{group: '', kind: Service}]
";

fn call(tool: &str) -> Request {
    let http = HttpRequest::new("POST", "/mcp", "mcp.example.com:443", 443).unwrap();
    let source = Source::service_account("cluster.local", "agents", "agent").unwrap();
    let message = Message::Mcp(McpMessage::tool_call(tool));
    Request::new(source, BackendRef::new("tools", "mcp"), http, message)
}

#[test]
fn a_cross_namespace_authorizer_without_a_reference_grant_is_ref_not_permitted() {
    let index = compile(&snapshot(BACKEND), &Settings::default());
    let report = index.report().policy("tools", "ext").unwrap();
    let refs = report.resolved_refs.as_ref().unwrap();
    assert_eq!((refs.status, refs.reason), (false, Reason::RefNotPermitted));
    assert!(
        report.accepted,
        "Accepted stays True; ResolvedRefs says why it cannot be enforced"
    );
    let requirement = index.decide(&call("add")).external_auth.unwrap();
    assert!(
        requirement
            .service
            .as_ref()
            .as_ref()
            .unwrap_err()
            .contains("no ReferenceGrant")
    );
}

#[test]
fn a_reference_grant_lets_the_authorizer_resolve_to_its_ready_endpoints() {
    let index = compile(
        &snapshot(&format!("{BACKEND}{GRANT}")),
        &Settings::default(),
    );
    let refs = index
        .report()
        .policy("tools", "ext")
        .unwrap()
        .resolved_refs
        .clone()
        .unwrap();
    assert_eq!((refs.status, refs.reason), (true, Reason::ResolvedRefs));
    let requirement = index.decide(&call("add")).external_auth.unwrap();
    let service = requirement.service.as_ref().as_ref().unwrap();
    assert_eq!(service.authority, "authz.security.svc.cluster.local:9191");
    assert_eq!(service.cluster_ip.as_deref(), Some("10.0.0.9"));
    assert_eq!(
        (
            service.endpoints[0].address.as_str(),
            service.endpoints[0].port
        ),
        ("10.1.0.5", 50051)
    );
}

#[test]
fn a_missing_authorizer_service_is_backend_not_found() {
    let yaml = BACKEND.replace("name: authz, namespace: security, port", "name: gone, port");
    let index = compile(&snapshot(&yaml), &Settings::default());
    let refs = index
        .report()
        .policy("tools", "ext")
        .unwrap()
        .resolved_refs
        .clone()
        .unwrap();
    assert_eq!(
        (refs.reason, refs.message.as_str()),
        (Reason::BackendNotFound, "Service tools/gone not found")
    );
}

#[test]
fn rate_limit_policies_attach_to_their_xbackends_and_report_per_target() {
    let yaml = format!(
        "{BACKEND}---
apiVersion: agentnet.dev/v1alpha1
kind: RateLimitPolicy
metadata: {{name: calls, namespace: tools}}
spec:
  targetRefs:
  - {{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}}
  - {{group: agentic.networking.x-k8s.io, kind: XBackend, name: missing}}
  limits:
  - {{name: per-tool, mcp: {{tools: [add]}}, keyBy: [Source, Tool], requests: 10, period: 1m}}
---
apiVersion: agentnet.dev/v1alpha1
kind: RateLimitPolicy
metadata: {{name: bad, namespace: tools}}
spec:
  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}}]
  limits: [{{name: l, requests: 1, period: 1d}}]
"
    );
    let index = compile(&snapshot(&yaml), &Settings::default());
    let limits = index.backend("tools", "mcp").unwrap().rate_limits();
    assert_eq!(limits.len(), 1, "the invalid policy limits nothing");
    let limit = &limits[0];
    assert_eq!(
        (limit.id().as_str(), limit.burst, limit.period.as_secs()),
        ("tools/calls/per-tool", 10, 60)
    );
    assert!(limit.applies(&call("add")) && !limit.applies(&call("echo")));
    assert_eq!(
        limit.key(&call("add")),
        "spiffe://cluster.local/ns/agents/sa/agent\nadd"
    );
    let report = index.report().rate_limit("tools", "calls").unwrap();
    let reasons: Vec<Reason> = report.targets.iter().map(|t| t.accepted.reason).collect();
    assert_eq!(reasons, [Reason::Accepted, Reason::TargetNotFound]);
    let bad = index.report().rate_limit("tools", "bad").unwrap();
    assert!(
        !bad.accepted
            && bad.targets[0]
                .accepted
                .message
                .contains("is not a duration")
    );
    assert_eq!(bad.targets[0].accepted.reason, Reason::Invalid);
}
