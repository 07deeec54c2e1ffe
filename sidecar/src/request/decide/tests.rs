//! The enforcement order, stage by stage: a policy denial first (it consumes no rate
//! limit token and asks no authorizer), then rate limits (a limited request asks no
//! authorizer), then ExternalAuth, and only then the request is forwarded.

use agentnet_policy::Protocol;
use bytes::Bytes;
use http::Request;
use serde_json::json;

use super::*;
use crate::request::codec;
use crate::request::forward::Upstream;
use crate::request::identify::{BackendRoute, BackendTarget};
use crate::testing::BACKENDS;

/// `add` and `echo` allowed; one tools/call a minute per caller; `echo` also needs an
/// authorizer that cannot be reached (so, when asked, it denies: fail closed).
const POLICIES: &str = r#"
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {name: tools, namespace: tools}
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
        methods: [{name: tools/call, params: [add, echo]}]
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {name: ext, namespace: tools}
spec:
  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]
  action: ExternalAuth
  externalAuth: {protocol: HTTP, backendRef: {name: authz, port: 9191}, http: {}}
  rules:
  - name: echo-needs-authz
    authorization:
      type: Inline
      mcp: {methods: [{name: tools/call, params: [echo]}]}
---
apiVersion: v1
kind: Service
metadata: {name: authz, namespace: tools}
spec: {ports: [{port: 9191, name: authz}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: authz-1, namespace: tools, labels: {kubernetes.io/service-name: authz}}
addressType: IPv4
endpoints: [{addresses: [127.0.0.1]}]
ports: [{name: authz, port: 1}]
---
apiVersion: agentnet.dev/v1alpha1
kind: RateLimitPolicy
metadata: {name: calls, namespace: tools}
spec:
  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]
  limits:
  - name: one-a-minute
    mcp: {methods: [tools/call]}
    keyBy: [Source]
    requests: 1
    period: 60s
"#;

#[derive(Debug, PartialEq)]
enum Stage {
    /// Passed every check: it would be forwarded.
    Forwarded,
    Denied,
    RateLimited,
}

async fn call(proxy: &Proxy, tool: &str) -> Stage {
    let index = proxy.policy.load();
    let backend = index.backend("tools", "mcp").unwrap();
    let body = Bytes::from(
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool,"arguments":{}}})
            .to_string(),
    );
    let (parts, ()) = Request::post("/mcp")
        .header("host", "mcp.tools:8080")
        .header("content-type", "application/json")
        .body(())
        .unwrap()
        .into_parts();
    let mut call = codec::classify(Protocol::Mcp, &parts, &body).unwrap();
    let target = BackendTarget {
        backend,
        authority: "mcp.tools:8080".into(),
        path: "/mcp".into(),
    };
    let upstream = Upstream::Plain {
        address: "10.1.0.1:9000".into(),
    };
    let route = BackendRoute::new(target, proxy.identity.source().clone(), upstream);
    let mut audit = Record::new("test".into(), proxy.metrics.clone(), false);
    match authorize(
        proxy,
        &index,
        (&parts, &body),
        (&route, &mut call),
        &mut audit,
    )
    .await
    {
        Ok(_) => Stage::Forwarded,
        Err(ProxyError::Denied(_)) => Stage::Denied,
        Err(ProxyError::RateLimited(_)) => Stage::RateLimited,
        Err(e) => panic!("unexpected {e}"),
    }
}

#[tokio::test]
async fn denial_then_rate_limit_then_external_auth_then_forward() {
    let cases: &[(&str, &[(&str, Stage)])] = &[
        // A denied call takes no token: the allowed one after it still gets through.
        (
            "deny before rate limit",
            &[
                ("get-secret", Stage::Denied),
                ("add", Stage::Forwarded),
                ("add", Stage::RateLimited),
            ],
        ),
        // Once limited, a call that would need the authorizer never asks it (which
        // would deny: it is unreachable).
        (
            "rate limit before external auth",
            &[("add", Stage::Forwarded), ("echo", Stage::RateLimited)],
        ),
        // Within the limit, the authorizer is asked, and its failure denies.
        ("external auth before forward", &[("echo", Stage::Denied)]),
    ];
    for (name, steps) in cases {
        let proxy = Proxy::for_test(&format!("{BACKENDS}{POLICIES}"));
        for (i, (tool, want)) in steps.iter().enumerate() {
            assert_eq!(&call(&proxy, tool).await, want, "{name}: step {i} ({tool})");
        }
    }
}
