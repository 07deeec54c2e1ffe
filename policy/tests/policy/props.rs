//! Properties over generated policies and requests.

use agentnet_policy::{BackendDefault, Message, Request, Settings, Source, compile};
use proptest::prelude::*;
use serde_json::json;

use crate::fixtures::*;

const TOOLS: &[&str] = &["get-sum", "echo", "rm", "read_wiki", "verify_x"];
const SAS: &[&str] = &["planner", "coder", "critic"];

/// One generated rule: a source (maybe none) and an Inline or CEL authorization.
fn rule() -> impl Strategy<Value = String> {
    let source = prop_oneof![
        Just(String::new()),
        prop::sample::select(SAS).prop_map(|s| format!(
            "\n    source: {{type: ServiceAccount, serviceAccount: {{namespace: agents, name: {s}}}}}"
        ))
    ];
    let tools = prop::sample::subsequence(TOOLS, 0..3).prop_map(|t| t.join(", "));
    let option =
        prop::sample::select(&["MATCH_BASE_PROTOCOL_METHODS", "SKIP_BASE_PROTOCOL_METHODS"][..]);
    let inline = (tools, option).prop_map(|(t, o)| {
        let methods = if t.is_empty() { "[]".to_owned() } else { format!("[{{name: tools/call, params: [{t}]}}]") };
        format!("\n    authorization: {{type: Inline, mcp: {{methods: {methods}, mcpBaseProtocolMethodsOption: {o}}}}}")
    });
    let cel = prop::sample::select(TOOLS).prop_map(|t| format!("\n    authorization: {{type: CEL, cel: {{expression: \"request.mcp.tool_name.startsWith('{}')\"}}}}", &t[..2]));
    let authz = prop_oneof![Just(String::new()), inline, cel];
    (source, authz).prop_map(|(s, a)| format!("{s}{a}"))
}

/// A policy with 0..3 rules on the given backends.
fn policy(name: String, targets: Vec<&'static str>) -> impl Strategy<Value = String> {
    prop::collection::vec(rule(), 0..3).prop_map(move |rules| {
        let refs: Vec<String> = targets.iter().map(|t| format!("{{group: agentic.networking.x-k8s.io, kind: XBackend, name: {t}}}")).collect();
        let rules: String = rules.iter().enumerate().map(|(i, r)| format!("\n  - name: r{i}{r}")).collect();
        let rules = if rules.is_empty() { String::new() } else { format!("\n  rules:{rules}") };
        format!("---\napiVersion: agentic.networking.x-k8s.io/v1alpha1\nkind: XAccessPolicy\nmetadata: {{name: {name}}}\nspec:\n  targetRefs: [{}]\n  action: Allow{rules}\n", refs.join(", "))
    })
}

fn backends() -> String {
    ["a", "b"].iter().map(|n| format!("---\napiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {{name: {n}}}\nspec: {{mcp: {{serviceName: {n}, port: 80}}}}\n")).collect()
}

fn request() -> impl Strategy<Value = Request> {
    let message = prop_oneof![
        prop::sample::select(TOOLS).prop_map(tool),
        prop::sample::select(&["initialize", "tools/list", "prompts/list"][..]).prop_map(mcp)
    ];
    let source = prop_oneof![
        prop::sample::select(SAS).prop_map(|s| sa("agents", s)),
        Just(Source::anonymous())
    ];
    (source, message).prop_map(|(s, m): (Source, Message)| post(&s, "b", m))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_policy_that_does_not_target_b_never_changes_a_decision_for_b(
        on_b in prop::collection::vec(policy("x".into(), vec!["b"]), 0..3),
        on_a in policy("elsewhere".into(), vec!["a"]),
        req in request(),
    ) {
        let base: String = on_b.iter().enumerate().map(|(i, p)| p.replace("name: x}", &format!("name: b{i}}}"))).collect();
        let without = index(&format!("{}{base}", backends()));
        let with = index(&format!("{}{base}{on_a}", backends()));
        prop_assert_eq!(without.decide(&req), with.decide(&req));
    }

    #[test]
    fn filtering_never_returns_an_entry_whose_call_would_be_denied(
        policies in prop::collection::vec(policy("x".into(), vec!["b"]), 0..4),
        source in prop::sample::select(SAS),
        deny_by_default in any::<bool>(),
    ) {
        let yaml: String = policies.iter().enumerate().map(|(i, p)| p.replace("name: x}", &format!("name: p{i}}}"))).collect();
        let settings = Settings {
            backend_default: if deny_by_default { BackendDefault::Deny } else { BackendDefault::Allow },
            ..Settings::default()
        };
        let idx = compile(&snapshot(&format!("{}{yaml}", backends())), &settings);
        let caller = sa("agents", source);
        let list = post(&caller, "b", mcp("tools/list"));
        let mut result = json!({"tools": TOOLS.iter().map(|t| json!({"name": t})).collect::<Vec<_>>()});
        idx.filter_list(&list, &mut result).unwrap();
        let kept: Vec<&str> = result["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
        // One decider for the whole list, asked in any order and more than once, must
        // agree with deciding each call on its own.
        let mut entries = idx.list_entries(&list).unwrap();
        prop_assert!(!entries.keeps(None));
        for name in TOOLS.iter().chain(TOOLS.iter().rev()) {
            let allowed = idx.decide(&post(&caller, "b", tool(name))).is_allowed();
            prop_assert_eq!(kept.contains(name), allowed, "{}", name);
            prop_assert_eq!(entries.keeps(Some(name)), allowed, "{}", name);
        }
    }
}
