use agentnet_policy::{A2aMethod, JsonRpcKind};

use super::*;
use crate::testing::{BACKENDS, index};

const POLICY: &str = r#"
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
      mcp: {methods: [{name: tools/call, params: [add]}]}
"#;

fn query(tool: &str) -> ExplainQuery {
    ExplainQuery {
        backend: "tools/mcp".into(),
        tool: Some(tool.into()),
        ..Default::default()
    }
}

#[test]
fn builds_the_request_a_tool_call_would_make() {
    let index = index(&format!("{BACKENDS}{POLICY}"));
    let agent = Source::service_account("cluster.local", "agents", "agent").unwrap();
    let req = request(&index, &query("add"), &agent).unwrap();
    assert_eq!(
        (
            req.http.method.as_str(),
            req.http.path.as_str(),
            req.http.authority.as_str()
        ),
        ("POST", "/mcp", "mcp.tools.svc.cluster.local:8080")
    );
    let m = req.mcp().unwrap();
    assert_eq!(
        (m.method.as_str(), m.name.as_deref(), m.kind),
        ("tools/call", Some("add"), JsonRpcKind::Request)
    );
    assert!(index.decide(&req).is_allowed());
}

#[test]
fn explains_a_denial_in_text_and_json() {
    let index = index(&format!("{BACKENDS}{POLICY}"));
    let agent = Source::service_account("cluster.local", "agents", "agent").unwrap();
    let explanation = index.explain(&request(&index, &query("get-secret"), &agent).unwrap());
    let text = explanation.to_string();
    assert!(
        text.starts_with(
            "tool get-secret from spiffe://cluster.local/ns/agents/sa/agent to backend tools/mcp"
        ),
        "{text}"
    );
    assert!(
        text.contains("Allow policy tools/agents rule add-only")
            && text.ends_with("on backend tools/mcp"),
        "{text}"
    );
    let json = to_json(&explanation);
    assert_eq!(
        (json["decision"].as_str(), json["steps"][0]["rule"].as_str()),
        (Some("deny"), Some("add-only"))
    );
    assert!(
        json["steps"][0]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("no match")
    );
}

#[test]
fn a2a_queries_default_to_send_message() {
    let yaml = "apiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {name: agent, namespace: a}\nspec: {a2a: {serviceName: agent, port: 9999}}\n";
    let index = index(yaml);
    let q = ExplainQuery {
        backend: "a/agent".into(),
        skill: Some("summarize".into()),
        ..Default::default()
    };
    let req = request(&index, &q, &Source::anonymous()).unwrap();
    let m = req.a2a().unwrap();
    assert_eq!(
        (&m.method, m.skill.as_deref()),
        (&A2aMethod::Known("SendMessage"), Some("summarize"))
    );
    let card = ExplainQuery {
        backend: "a/agent".into(),
        path: Some("/.well-known/agent-card.json".into()),
        ..Default::default()
    };
    assert_eq!(
        request(&index, &card, &Source::anonymous())
            .unwrap()
            .http
            .method,
        "GET"
    );
    assert!(matches!(
        request(
            &index,
            &ExplainQuery {
                backend: "nope".into(),
                ..Default::default()
            },
            &Source::anonymous()
        ),
        Err(ExplainError::Backend(_))
    ));
}
