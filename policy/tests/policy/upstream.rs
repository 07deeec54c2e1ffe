//! upstream-api.md §2.3, §2.4, §2.6: each semantic point as a table.

use agentnet_policy::{AppliedDefault, Cause, Source};

use crate::fixtures::*;

const PLANNER: (&str, &str) = ("agents", "planner");

fn planner() -> Source {
    sa(PLANNER.0, PLANNER.1)
}

#[test]
fn no_accepted_allow_policy_on_a_target_allows_everything() {
    let ruleless = r#"
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {name: empty}
spec:
  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]
  action: Allow
"#;
    for extra in ["", ruleless] {
        let idx = index(&format!("{MCP_BACKEND}{extra}"));
        for req in [
            post(&planner(), "mcp", tool("anything")),
            http(&Source::anonymous(), "mcp", "GET", "/mcp", false),
        ] {
            let d = decide(&idx, &req);
            assert!(d.is_allowed(), "{extra}: {d}");
            assert_eq!(
                (d.cause, d.default),
                (Cause::NoAllowPolicy, Some(AppliedDefault::Allow))
            );
        }
    }
}

#[test]
fn any_rule_of_any_allow_policy_admits() {
    let rules = |tool: &str| {
        format!(
            "  - name: r\n    authorization: {{type: Inline, mcp: {{methods: [{{name: tools/call, params: [{tool}]}}]}}}}"
        )
    };
    // Both rules are named `r`: upstream's merge would keep one; here both stand.
    let idx = index(&format!(
        "{MCP_BACKEND}{}{}",
        allow("p1", &rules("get-sum")),
        allow("p2", &rules("echo"))
    ));
    let cases = [("get-sum", Some("p1")), ("echo", Some("p2")), ("rm", None)];
    for (name, policy) in cases {
        let d = decide(&idx, &post(&planner(), "mcp", tool(name)));
        assert_eq!(
            d.policy.as_ref().map(|p| p.name.clone()),
            policy.map(str::to_owned),
            "{name}"
        );
        assert_eq!(d.is_allowed(), policy.is_some(), "{name}");
    }
}

#[test]
fn omitted_authorization_admits_everything_from_its_source() {
    let idx = index(&format!(
        "{MCP_BACKEND}{}",
        allow(
            "p",
            "  - name: planner\n    source: {type: ServiceAccount, serviceAccount: {namespace: agents, name: planner}}"
        )
    ));
    let cases = [
        (post(&planner(), "mcp", tool("anything")), true),
        (post(&planner(), "mcp", mcp("initialize")), true),
        (http(&planner(), "mcp", "DELETE", "/mcp", false), true),
        (post(&sa("agents", "other"), "mcp", tool("anything")), false),
        (post(&Source::anonymous(), "mcp", tool("anything")), false),
    ];
    for (req, want) in cases {
        assert_eq!(allowed(&idx, &req), want, "{}", req.describe());
    }
}

#[test]
fn a_service_account_rule_is_the_same_as_its_spiffe_rule() {
    let by_sa = allow(
        "p",
        "  - name: r\n    source: {type: ServiceAccount, serviceAccount: {name: planner}}",
    );
    let by_spiffe = allow(
        "p",
        "  - name: r\n    source: {type: SPIFFE, spiffe: 'spiffe://cluster.local/ns/tools/sa/planner'}",
    );
    let (a, b) = (
        index(&format!("{MCP_BACKEND}{by_sa}")),
        index(&format!("{MCP_BACKEND}{by_spiffe}")),
    );
    let sources = [
        sa("tools", "planner"),
        sa("agents", "planner"),
        sa("tools", "other"),
        Source::from_spiffe_id("spiffe://example.org/ns/tools/sa/planner").unwrap(),
        Source::anonymous(),
    ];
    for s in &sources {
        let req = post(s, "mcp", tool("x"));
        assert_eq!(allowed(&a, &req), allowed(&b, &req), "{s}");
        assert_eq!(allowed(&a, &req), *s == sa("tools", "planner"), "{s}");
    }
}

#[test]
fn service_account_namespace_defaults_to_the_policys() {
    let explicit = allow(
        "p",
        "  - name: r\n    source: {type: ServiceAccount, serviceAccount: {namespace: agents, name: planner}}",
    );
    let defaulted = allow(
        "p",
        "  - name: r\n    source: {type: ServiceAccount, serviceAccount: {name: planner}}",
    );
    let cases = [
        (&explicit, "agents", true),
        (&explicit, "tools", false),
        (&defaulted, "tools", true),
        (&defaulted, "agents", false),
    ];
    for (policy, ns, want) in cases {
        let idx = index(&format!("{MCP_BACKEND}{policy}"));
        assert_eq!(
            allowed(&idx, &post(&sa(ns, "planner"), "mcp", tool("x"))),
            want,
            "{ns}"
        );
    }
}

#[test]
fn an_omitted_source_means_anyone() {
    let idx = index(&format!(
        "{MCP_BACKEND}{}",
        allow(
            "p",
            "  - name: r\n    authorization: {type: Inline, mcp: {methods: [{name: tools/call, params: [echo]}]}}"
        )
    ));
    for s in [
        planner(),
        Source::anonymous(),
        Source::from_spiffe_id("spiffe://x.org/any").unwrap(),
    ] {
        assert!(allowed(&idx, &post(&s, "mcp", tool("echo"))), "{s}");
        assert!(!allowed(&idx, &post(&s, "mcp", tool("rm"))), "{s}");
    }
}

fn inline(methods: &str, option: &str) -> String {
    allow(
        "p",
        &format!(
            "  - name: r\n    authorization: {{type: Inline, mcp: {{methods: {methods}, mcpBaseProtocolMethodsOption: {option}}}}}"
        ),
    )
}

#[test]
fn match_base_protocol_methods_without_methods() {
    let idx = index(&format!(
        "{MCP_BACKEND}{}",
        inline("[]", "MATCH_BASE_PROTOCOL_METHODS")
    ));
    let p = planner();
    let cases = [
        (post(&p, "mcp", mcp("initialize")), true),
        (post(&p, "mcp", mcp("tools/list")), true),
        (post(&p, "mcp", mcp("ping")), true),
        (post(&p, "mcp", mcp("notifications/initialized")), true),
        (post(&p, "mcp", mcp("completion/complete")), true),
        (post(&p, "mcp", mcp("logging/setLevel")), true),
        (post(&p, "mcp", mcp("server/discover")), true),
        (post(&p, "mcp", mcp("subscriptions/listen")), true),
        (http(&p, "mcp", "GET", "/mcp", false), true),
        (http(&p, "mcp", "DELETE", "/mcp", true), true),
        (http(&p, "mcp", "DELETE", "/mcp", false), false),
        (post(&p, "mcp", tool("get-sum")), false),
        (post(&p, "mcp", mcp("prompts/list")), false),
        (post(&p, "mcp", mcp("resources/read")), false),
    ];
    for (req, want) in cases {
        assert_eq!(allowed(&idx, &req), want, "{}", req.describe());
    }
}

#[test]
fn skip_base_protocol_methods_with_methods_listed_denies_initialize() {
    let idx = index(&format!(
        "{MCP_BACKEND}{}",
        inline(
            "[{name: tools/call, params: [get-sum]}]",
            "SKIP_BASE_PROTOCOL_METHODS"
        )
    ));
    let p = planner();
    let cases = [
        (post(&p, "mcp", mcp("initialize")), false),
        (post(&p, "mcp", mcp("tools/list")), false),
        (http(&p, "mcp", "GET", "/mcp", false), false),
        (post(&p, "mcp", tool("get-sum")), true),
        (post(&p, "mcp", tool("echo")), false),
    ];
    for (req, want) in cases {
        assert_eq!(allowed(&idx, &req), want, "{}", req.describe());
    }
}

#[test]
fn skip_without_methods_admits_anything() {
    for methods in ["[]", "null"] {
        let idx = index(&format!(
            "{MCP_BACKEND}{}",
            inline(methods, "SKIP_BASE_PROTOCOL_METHODS")
        ));
        for req in [
            post(&planner(), "mcp", tool("x")),
            post(&planner(), "mcp", mcp("initialize")),
            http(&planner(), "mcp", "PUT", "/x", false),
        ] {
            assert!(allowed(&idx, &req), "{methods} {}", req.describe());
        }
    }
}

#[test]
fn categories_match_by_prefix_and_params_by_name() {
    let idx = index(&format!(
        "{MCP_BACKEND}{}",
        inline(
            "[{name: prompts}, {name: tools/call, params: [get-sum, echo]}]",
            "SKIP_BASE_PROTOCOL_METHODS"
        )
    ));
    let p = planner();
    let cases = [
        (post(&p, "mcp", mcp("prompts/list")), true),
        (
            post(
                &p,
                "mcp",
                Message::Mcp(McpMessage::new("prompts/get").with_name("any")),
            ),
            true,
        ),
        (post(&p, "mcp", tool("echo")), true),
        (post(&p, "mcp", tool("rm")), false),
        (post(&p, "mcp", mcp("tools/list")), false),
        (post(&p, "mcp", mcp("resources/list")), false),
    ];
    for (req, want) in cases {
        assert_eq!(allowed(&idx, &req), want, "{}", req.describe());
    }
}

use agentnet_policy::{McpMessage, Message};

#[test]
fn a_cel_rule_admits_only_tools_call() {
    let cel = "  - name: c\n    authorization: {type: CEL, cel: {expression: \"request.method == 'POST'\"}}";
    let idx = index(&format!("{MCP_BACKEND}{}", allow("p", cel)));
    let p = planner();
    assert!(allowed(&idx, &post(&p, "mcp", tool("anything"))));
    for method in ["initialize", "tools/list", "prompts/get"] {
        assert!(!allowed(&idx, &post(&p, "mcp", mcp(method))), "{method}");
    }
    // So upstream's e2e pairs each CEL rule with an Inline MATCH rule for the session.
    let both = format!(
        "{cel}\n  - name: base\n    authorization: {{type: Inline, mcp: {{mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS}}}}"
    );
    let idx = index(&format!("{MCP_BACKEND}{}", allow("p", &both)));
    assert!(allowed(&idx, &post(&p, "mcp", mcp("initialize"))));
}

#[test]
fn upstream_cel_examples_decide_tool_calls() {
    let cases = [
        ("request.mcp.tool_name == 'get-sum'", "get-sum", true),
        ("request.mcp.tool_name == 'get-sum'", "echo", false),
        (
            "request.mcp.tool_name.startsWith('verify_')",
            "verify_id",
            true,
        ),
        (
            "request.mcp.tool_name.startsWith('verify_')",
            "delete_id",
            false,
        ),
        (
            "request.path.startsWith('/mc') && request.headers['mcp-protocol-version'].contains('2025') && request.mcp.tool_name.matches('^get-[a-z]+$')",
            "get-tiny",
            true,
        ),
        ("request.host.endsWith(':8080')", "x", true),
        ("request.time.getFullYear() >= 2026", "x", true),
    ];
    for (expression, name, want) in cases {
        let rule = format!(
            "  - name: c\n    authorization: {{type: CEL, cel: {{expression: \"{expression}\"}}}}"
        );
        let idx = index(&format!("{MCP_BACKEND}{}", allow("p", &rule)));
        let mut req = post(&planner(), "mcp", tool(name));
        req.http
            .headers
            .append("MCP-Protocol-Version", "2025-06-18");
        assert_eq!(allowed(&idx, &req), want, "{expression} / {name}");
    }
}

const EXT_AUTH: &str = r#"
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {name: ext}
spec:
  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]
  action: ExternalAuth
  externalAuth: {protocol: GRPC, backendRef: {name: authz, port: 5000}, grpc: {}}
"#;

#[test]
fn external_auth_applies_to_requests_matching_its_rules() {
    let with_rules = format!(
        "{EXT_AUTH}  rules:\n  - name: remote-tools\n    authorization: {{type: Inline, mcp: {{methods: [{{name: tools/call, params: [read_wiki]}}]}}}}\n"
    );
    let idx = index(&format!("{MCP_BACKEND}{with_rules}"));
    let d = decide(&idx, &post(&planner(), "mcp", tool("read_wiki")));
    let ext = d.external_auth.clone().expect("requirement");
    assert_eq!(
        (ext.policy.name.as_str(), ext.rule.as_deref()),
        ("ext", Some("remote-tools"))
    );
    assert_eq!(ext.config.backend_ref.name, "authz");
    assert!(
        d.is_allowed(),
        "no Allow policy: allowed, subject to the authorizer"
    );
    assert!(
        d.to_string()
            .ends_with("ExternalAuth required by policy tools/ext"),
        "{d}"
    );
    assert_eq!(
        decide(&idx, &post(&planner(), "mcp", tool("other"))).external_auth,
        None
    );
    // Without rules it covers everything.
    let idx = index(&format!("{MCP_BACKEND}{EXT_AUTH}"));
    assert_eq!(
        decide(&idx, &post(&planner(), "mcp", mcp("initialize")))
            .external_auth
            .map(|e| e.rule),
        Some(None)
    );
}

#[test]
fn external_auth_and_allow_policies_must_both_allow() {
    let only_echo = allow(
        "p",
        "  - name: r\n    authorization: {type: Inline, mcp: {methods: [{name: tools/call, params: [echo]}]}}",
    );
    let idx = index(&format!("{MCP_BACKEND}{EXT_AUTH}{only_echo}"));
    let d = decide(&idx, &post(&planner(), "mcp", tool("rm")));
    assert!(!d.is_allowed());
    assert!(
        d.external_auth.is_some(),
        "the requirement is reported, the Allow policies still deny"
    );
    assert!(decide(&idx, &post(&planner(), "mcp", tool("echo"))).is_allowed());
}
