//! A caller's view: it decides that caller's requests exactly as the whole snapshot
//! does, and carries no rule that only admits someone else.

use agentnet_policy::{BackendRef, Caller, REDACTED_SOURCE, Settings, applies, compile, view};

use crate::fixtures::*;

const TOOL_RULES: &str = "  - name: planner-sum\n    source: {type: ServiceAccount, serviceAccount: {namespace: agents, name: planner}}\n    authorization: {type: Inline, mcp: {methods: [{name: tools/call, params: [get-sum]}]}}\n  - name: auditor-secret\n    source: {type: ServiceAccount, serviceAccount: {namespace: audit, name: auditor}}\n    authorization: {type: Inline, mcp: {methods: [{name: tools/call, params: [read-secret]}]}}\n  - name: anyone-list\n    authorization: {type: Inline, mcp: {methods: [{name: tools/list}]}}";

fn caller(ns: &str, name: &str, serves: &[&str]) -> Caller {
    Caller {
        spiffe_id: format!("spiffe://cluster.local/ns/{ns}/sa/{name}"),
        serves: serves.iter().map(|b| BackendRef::new(NS, b)).collect(),
    }
}

fn full() -> agentnet_policy::Snapshot {
    let only_auditor = "  - name: auditor-only\n    source: {type: SPIFFE, spiffe: 'spiffe://cluster.local/ns/audit/sa/auditor'}";
    let a2a = "---\napiVersion: agentic.networking.x-k8s.io/v1alpha1\nkind: XAccessPolicy\nmetadata: {name: agent-policy}\nspec:\n  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: agent}]\n  action: Allow\n  rules:\n  - name: auditor-agent\n    source: {type: ServiceAccount, serviceAccount: {namespace: audit, name: auditor}}\n";
    snapshot(&format!(
        "{MCP_BACKEND}{A2A_BACKEND}{}{}{a2a}",
        allow("tools", TOOL_RULES),
        allow("auditor-only", only_auditor)
    ))
}

#[test]
fn the_view_decides_as_the_whole_snapshot_for_its_caller() {
    let full = full();
    let settings = Settings::default();
    let whole = compile(&full, &settings);
    for (ns, name) in [("agents", "planner"), ("audit", "auditor"), ("x", "nobody")] {
        let v = view(
            &full,
            whole.report(),
            &caller(ns, name, &[]),
            "cluster.local",
        );
        let mine = compile(&v, &settings);
        let me = sa(ns, name);
        for message in [
            tool("get-sum"),
            tool("read-secret"),
            mcp("tools/list"),
            tool("other"),
        ] {
            let req = post(&me, "mcp", message.clone());
            let (a, b) = (decide(&whole, &req), decide(&mine, &req));
            assert_eq!(
                (a.is_allowed(), a.rule.clone()),
                (b.is_allowed(), b.rule.clone()),
                "{ns}/{name} {message:?}"
            );
        }
        let card = http(&me, "agent", "GET", "/.well-known/agent-card.json", false);
        assert_eq!(
            allowed(&whole, &card),
            allowed(&mine, &card),
            "{ns}/{name} agent card"
        );
    }
}

#[test]
fn rules_for_other_identities_are_redacted_but_named() {
    let full = full();
    let whole = compile(&full, &Settings::default());
    let v = view(
        &full,
        whole.report(),
        &caller("agents", "planner", &[]),
        "cluster.local",
    );
    let text = serde_json::to_string(&v).unwrap();
    // Names stay (denials and explain name rules); sources and authorizations do not.
    assert!(
        !text.contains("/ns/audit/"),
        "another identity's source leaked: {text}"
    );
    assert!(
        !text.contains(r#""namespace":"audit""#),
        "another identity's source leaked"
    );
    assert!(
        !text.contains("read-secret"),
        "another identity's tool leaked"
    );
    let tools = v
        .policies
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("tools"))
        .unwrap();
    let rules = tools.spec.rules.as_ref().unwrap();
    let names: Vec<_> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["planner-sum", "auditor-secret", "anyone-list"]);
    assert_eq!(
        rules[1].source.as_ref().unwrap().spiffe.as_deref(),
        Some(REDACTED_SOURCE)
    );
    assert!(rules[1].authorization.is_none());
    // Every policy stays, so the backends stay restricted for this caller.
    assert_eq!(v.policies.len(), full.policies.len());
}

#[test]
fn a_served_backend_keeps_every_rule_of_its_policies() {
    let full = full();
    let whole = compile(&full, &Settings::default());
    let v = view(
        &full,
        whole.report(),
        &caller("agents", "planner", &["agent"]),
        "cluster.local",
    );
    let text = serde_json::to_string(&v).unwrap();
    assert!(
        text.contains(r#"{"namespace":"audit","name":"auditor"}"#),
        "{text}"
    );
    let mine = compile(&v, &Settings::default());
    let inbound = http(
        &sa("audit", "auditor"),
        "agent",
        "GET",
        "/.well-known/agent-card.json",
        false,
    );
    assert!(allowed(&whole, &inbound) && allowed(&mine, &inbound));
    // The MCP backend is not served: its rules for the auditor stay redacted.
    assert!(!text.contains("read-secret"));
}

#[test]
fn a_rejected_policy_stays_rejected_without_its_content() {
    let bad = "  - name: secret-cel\n    source: {type: ServiceAccount, serviceAccount: {namespace: audit, name: auditor}}\n    authorization: {type: CEL, cel: {expression: 'request.mcp.tool_name == \"read-secret\" &&'}}";
    let full = snapshot(&format!("{MCP_BACKEND}{}", allow("broken", bad)));
    let settings = Settings::default();
    let whole = compile(&full, &settings);
    assert!(!whole.report().policy(NS, "broken").unwrap().accepted);
    let v = view(
        &full,
        whole.report(),
        &caller("agents", "planner", &[]),
        "cluster.local",
    );
    assert!(!serde_json::to_string(&v).unwrap().contains("read-secret"));
    let mine = compile(&v, &settings);
    assert!(!mine.report().policy(NS, "broken").unwrap().accepted);
    let req = post(&sa("agents", "planner"), "mcp", tool("get-sum"));
    assert_eq!(allowed(&whole, &req), allowed(&mine, &req));
}

#[test]
fn views_drop_status_and_bookkeeping() {
    let mut full = full();
    full.backends[0].metadata.resource_version = Some("7".into());
    let whole = compile(&full, &Settings::default());
    let v = view(
        &full,
        whole.report(),
        &caller("agents", "planner", &[]),
        "cluster.local",
    );
    assert!(
        v.backends
            .iter()
            .all(|b| b.metadata.resource_version.is_none())
    );
    assert!(v.policies.iter().all(|p| p.status.is_none()));
    let round: agentnet_policy::Snapshot =
        serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
    assert_eq!(round.policies.len(), v.policies.len());
}

#[test]
fn a_policy_applies_to_the_callers_whose_view_keeps_one_of_its_rules() {
    let full = full();
    let whole = compile(&full, &Settings::default());
    let applying = |c: Caller| -> Vec<String> {
        let v = view(&full, whole.report(), &c, "cluster.local");
        let mut names: Vec<String> = v
            .policies
            .iter()
            .filter(|p| applies(p))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        names.sort();
        names
    };
    // `tools` has a rule for any caller; `auditor-only` and `agent-policy` only admit
    // the auditor, unless the caller serves the agent backend.
    assert_eq!(applying(caller("agents", "planner", &[])), ["tools"]);
    assert_eq!(applying(caller("x", "nobody", &[])), ["tools"]);
    assert_eq!(
        applying(caller("audit", "auditor", &[])),
        ["agent-policy", "auditor-only", "tools"]
    );
    assert_eq!(
        applying(caller("agents", "planner", &["agent"])),
        ["agent-policy", "tools"]
    );
    // A rejected policy applies to no one.
    let bad = "  - name: secret-cel\n    authorization: {type: CEL, cel: {expression: 'request.mcp.tool_name == \"x\" &&'}}";
    let broken = snapshot(&format!("{MCP_BACKEND}{}", allow("broken", bad)));
    let report = compile(&broken, &Settings::default());
    let v = view(
        &broken,
        report.report(),
        &caller("x", "nobody", &[]),
        "cluster.local",
    );
    assert!(!applies(&v.policies[0]));
}
