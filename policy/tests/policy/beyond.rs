//! What agentnet adds to upstream, each behind its own documented rule.

use agentnet_policy::{
    AppliedDefault, BackendDefault, BackendRef, Cause, HttpRequest, ListKind, McpMessage, Message,
    Mismatch, Outcome, Request, Settings, Source,
};
use serde_json::json;

use crate::fixtures::*;

fn planner() -> Source {
    sa("agents", "planner")
}

#[test]
fn l7_matchers_are_enforced() {
    let rule = "  - name: r\n    authorization:\n      type: Inline\n      methods: [POST]\n      paths: [{type: PathPrefix, value: /mcp}]\n      headers: [{name: x-env, value: prod}, {type: RegularExpression, name: x-tenant, value: 't-[0-9]+'}]\n      hosts: ['*.tools', mcp-svc.tools]\n      ports: [8080]";
    let idx = index(&format!("{MCP_BACKEND}{}", allow("p", rule)));
    let req = |method: &str, path: &str, authority: &str, headers: &[(&str, &str)]| {
        let mut h = HttpRequest::new(method, path, authority, 80).unwrap();
        headers.iter().for_each(|(n, v)| h.headers.append(n, v));
        Request::new(
            planner(),
            BackendRef::new(NS, "mcp"),
            h,
            Message::Mcp(McpMessage::tool_call("x")),
        )
    };
    let good = [("x-env", "prod"), ("x-tenant", "t-7")];
    let cases = [
        (req("POST", "/mcp", "mcp-svc.tools:8080", &good), true),
        (req("POST", "/mcp/sub", "a.tools:8080", &good), true),
        (req("GET", "/mcp", "mcp-svc.tools:8080", &good), false),
        (req("POST", "/other", "mcp-svc.tools:8080", &good), false),
        (
            req("POST", "/mcp", "mcp-svc.tools:8080", &[("x-env", "prod")]),
            false,
        ),
        (
            req(
                "POST",
                "/mcp",
                "mcp-svc.tools:8080",
                &[("x-env", "dev"), ("x-tenant", "t-7")],
            ),
            false,
        ),
        (req("POST", "/mcp", "tools:8080", &good), false),
        (req("POST", "/mcp", "mcp-svc.tools:9090", &good), false),
    ];
    for (r, want) in cases {
        assert_eq!(
            allowed(&idx, &r),
            want,
            "{} {} {:?}",
            r.http.method,
            r.http.authority,
            r.http.headers
        );
    }
}

#[test]
fn resources_are_matched_by_uri() {
    let rule = "  - name: r\n    authorization: {type: Inline, mcp: {methods: [{name: resources/read, params: ['file:///a.txt']}]}}";
    let idx = index(&format!("{MCP_BACKEND}{}", allow("p", rule)));
    let read = |uri: &str, name: Option<&str>| {
        let mut m = McpMessage::new("resources/read").with_uri(uri);
        m.name = name.map(str::to_owned);
        post(&planner(), "mcp", Message::Mcp(m))
    };
    assert!(allowed(&idx, &read("file:///a.txt", None)));
    assert!(!allowed(&idx, &read("file:///etc/passwd", None)));
    assert!(
        !allowed(&idx, &read("file:///etc/passwd", Some("file:///a.txt"))),
        "a name never stands in for the URI"
    );
}

fn cel(expression: &str) -> String {
    allow(
        "p",
        &format!(
            "  - name: c\n    authorization: {{type: CEL, cel: {{expression: \"{expression}\"}}}}"
        ),
    )
}

#[test]
fn cel_rules_reading_the_method_admit_other_methods() {
    let idx = index(&format!(
        "{MCP_BACKEND}{}",
        cel(
            "request.mcp.method in ['initialize', 'tools/list'] || request.mcp.tool_name == 'echo'"
        )
    ));
    let cases = [
        ("initialize", true),
        ("tools/list", true),
        ("prompts/list", false),
    ];
    for (method, want) in cases {
        assert_eq!(
            allowed(&idx, &post(&planner(), "mcp", mcp(method))),
            want,
            "{method}"
        );
    }
    assert!(allowed(&idx, &post(&planner(), "mcp", tool("echo"))));
    assert!(!allowed(&idx, &post(&planner(), "mcp", tool("rm"))));
}

#[test]
fn cel_rules_read_arguments_resources_and_the_source() {
    let args = cel(
        "request.mcp.arguments.repo in ['kubernetes-sigs/kan'] && source.namespace == 'agents' && source.service_account == 'planner'",
    );
    let idx = index(&format!("{MCP_BACKEND}{args}"));
    let call = |repo: &str, who: &Source| {
        post(
            who,
            "mcp",
            Message::Mcp(McpMessage::tool_call("ask").with_arguments(json!({"repo": repo}))),
        )
    };
    assert!(allowed(&idx, &call("kubernetes-sigs/kan", &planner())));
    assert!(!allowed(&idx, &call("evil/repo", &planner())));
    assert!(!allowed(
        &idx,
        &call("kubernetes-sigs/kan", &sa("agents", "other"))
    ));
    let uri = cel(
        "request.mcp.method == 'resources/read' && request.mcp.resource_uri.startsWith('file:///public/')",
    );
    let idx = index(&format!("{MCP_BACKEND}{uri}"));
    let read = |u: &str| {
        post(
            &planner(),
            "mcp",
            Message::Mcp(McpMessage::new("resources/read").with_uri(u)),
        )
    };
    assert!(allowed(&idx, &read("file:///public/a")));
    assert!(!allowed(&idx, &read("file:///private/a")));
    let spiffe = cel("source.spiffe_id.endsWith('/sa/planner')");
    assert!(allowed(
        &index(&format!("{MCP_BACKEND}{spiffe}")),
        &post(&planner(), "mcp", tool("x"))
    ));
}

#[test]
fn deny_by_default_mode_denies_ungoverned_backends() {
    let deny = Settings {
        backend_default: BackendDefault::Deny,
        ..Settings::default()
    };
    let idx = index_with(MCP_BACKEND, &deny);
    let d = decide(&idx, &post(&planner(), "mcp", mcp("initialize")));
    assert_eq!(
        (d.is_allowed(), d.cause.clone(), d.default),
        (false, Cause::DeniedByDefault, Some(AppliedDefault::Deny))
    );
    assert!(d.to_string().starts_with("denied by default"), "{d}");
    let idx = index_with(
        &format!(
            "{MCP_BACKEND}{}",
            allow(
                "p",
                "  - name: r\n    source: {type: ServiceAccount, serviceAccount: {namespace: agents, name: planner}}"
            )
        ),
        &deny,
    );
    assert!(allowed(&idx, &post(&planner(), "mcp", tool("x"))));
    assert!(!allowed(
        &idx,
        &post(&sa("agents", "other"), "mcp", tool("x"))
    ));
    assert_eq!("deny".parse::<BackendDefault>(), Ok(BackendDefault::Deny));
    assert!("open".parse::<BackendDefault>().is_err());
}

fn a2a_policy(a2a: &str, option: &str) -> String {
    format!(
        "---\napiVersion: agentic.networking.x-k8s.io/v1alpha1\nkind: XAccessPolicy\nmetadata: {{name: a2a}}\nspec:\n  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: agent}}]\n  action: Allow\n  rules:\n  - name: r\n    authorization: {{type: Inline, a2a: {a2a}, mcp: {{mcpBaseProtocolMethodsOption: {option}}}}}\n"
    )
}

#[test]
fn a2a_is_authorized_per_method_and_skill_in_both_generations() {
    let idx = index(&format!(
        "{A2A_BACKEND}{}",
        a2a_policy(
            "{methods: [message/send, GetTask], skills: [summarize]}",
            "MATCH_BASE_PROTOCOL_METHODS"
        )
    ));
    let p = planner();
    let cases = [
        (
            post(&p, "agent", a2a("SendMessage", Some("summarize"))),
            true,
        ),
        (
            post(&p, "agent", a2a("message/send", Some("summarize"))),
            true,
        ),
        (
            post(&p, "agent", a2a("SendMessage", Some("delete-everything"))),
            false,
        ),
        (
            post(&p, "agent", a2a("SendStreamingMessage", Some("summarize"))),
            false,
        ),
        (post(&p, "agent", a2a("tasks/get", None)), false),
        (
            http(&p, "agent", "GET", "/.well-known/agent-card.json", false),
            true,
        ),
        (post(&p, "agent", tool("x")), false),
    ];
    for (req, want) in cases {
        assert_eq!(allowed(&idx, &req), want, "{}", req.describe());
    }
    let idx = index(&format!(
        "{A2A_BACKEND}{}",
        a2a_policy("{methods: [SendMessage]}", "SKIP_BASE_PROTOCOL_METHODS")
    ));
    assert!(
        !allowed(
            &idx,
            &http(&p, "agent", "GET", "/.well-known/agent-card.json", false)
        ),
        "SKIP: the card is a base method"
    );
    assert!(allowed(&idx, &post(&p, "agent", a2a("message/send", None))));
}

#[test]
fn a2a_cel_rules_see_normalized_methods() {
    let rule = "  - name: c\n    authorization: {type: CEL, cel: {expression: \"request.a2a.method == 'SendMessage' && request.a2a.skill == 'summarize'\"}}";
    let policy = format!(
        "---\napiVersion: agentic.networking.x-k8s.io/v1alpha1\nkind: XAccessPolicy\nmetadata: {{name: c}}\nspec:\n  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: agent}}]\n  action: Allow\n  rules:\n{rule}\n"
    );
    let idx = index(&format!("{A2A_BACKEND}{policy}"));
    assert!(allowed(
        &idx,
        &post(&planner(), "agent", a2a("message/send", Some("summarize")))
    ));
    assert!(!allowed(
        &idx,
        &post(&planner(), "agent", a2a("message/send", Some("other")))
    ));
}

#[test]
fn resolves_every_service_dns_form_and_external_hostnames() {
    let external = "---\napiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {name: wiki, namespace: remote}\nspec: {mcp: {hostname: mcp.deepwiki.com, port: 443}}\n";
    let svc = "---\napiVersion: v1\nkind: Service\nmetadata: {name: mcp-svc}\nspec: {clusterIP: 10.96.0.9, ports: [{port: 8080}]}\n";
    let idx = index(&format!("{MCP_BACKEND}{external}{svc}"));
    let name = |host: &str, port: u16, caller: &str| {
        idx.resolve(host, port, caller).map(|b| b.id().to_string())
    };
    let mcp = Some("tools/mcp".to_owned());
    let cases = [
        ("mcp-svc", 8080, "tools", mcp.clone()),
        ("mcp-svc", 8080, "agents", None),
        ("mcp-svc.tools", 8080, "agents", mcp.clone()),
        ("mcp-svc.tools.svc", 8080, "agents", mcp.clone()),
        (
            "MCP-SVC.tools.svc.cluster.local.",
            8080,
            "agents",
            mcp.clone(),
        ),
        ("10.96.0.9", 8080, "agents", mcp.clone()),
        ("mcp-svc.tools", 9090, "agents", None),
        (
            "mcp.deepwiki.com",
            443,
            "agents",
            Some("remote/wiki".into()),
        ),
        ("mcp.deepwiki.com", 80, "agents", None),
        ("example.com", 443, "agents", None),
    ];
    for (host, port, caller, want) in cases {
        assert_eq!(
            name(host, port, caller),
            want,
            "{host}:{port} from {caller}"
        );
    }
    assert_eq!(
        idx.backend("remote", "wiki").map(|b| b.path()),
        Some("/mcp")
    );
    assert!(idx.backend("remote", "nope").is_none());
}

#[test]
fn tool_rules_make_tunnels_unsafe() {
    let cases = [
        (String::new(), false),
        (
            allow(
                "p",
                "  - name: r\n    source: {type: ServiceAccount, serviceAccount: {name: a}}",
            ),
            false,
        ),
        (
            allow(
                "p",
                "  - name: r\n    authorization: {type: Inline, hosts: [a.b], ports: [8080]}",
            ),
            false,
        ),
        (
            allow(
                "p",
                "  - name: r\n    authorization: {type: Inline, paths: [{value: /mcp}]}",
            ),
            true,
        ),
        (
            allow(
                "p",
                "  - name: r\n    authorization: {type: Inline, mcp: {methods: [{name: tools}]}}",
            ),
            true,
        ),
        (cel("request.method == 'POST'"), true),
    ];
    for (policy, want) in cases {
        let idx = index(&format!("{MCP_BACKEND}{policy}"));
        assert_eq!(
            idx.backend(NS, "mcp").unwrap().has_tool_rules(),
            want,
            "{policy}"
        );
    }
}

#[test]
fn denials_name_what_was_asked_who_asked_and_where() {
    let idx = index(&format!(
        "{MCP_BACKEND}{}",
        allow(
            "p",
            "  - name: r\n    authorization: {type: Inline, mcp: {methods: [{name: tools/call, params: [echo]}]}}"
        )
    ));
    let d = decide(&idx, &post(&planner(), "mcp", tool("rm")));
    assert_eq!(
        d.to_string(),
        "no rule admits tool rm for spiffe://cluster.local/ns/agents/sa/planner on backend tools/mcp"
    );
    let d = decide(&idx, &post(&planner(), "mcp", tool("echo")));
    assert_eq!(
        d.to_string(),
        "allowed by rule r of policy tools/p on backend tools/mcp"
    );
    let d = decide(&idx, &post(&planner(), "nope", tool("echo")));
    assert_eq!((d.is_allowed(), d.cause), (false, Cause::UnknownBackend));
}

#[test]
fn explain_records_every_rule_and_why() {
    let rules = "  - name: other-sa\n    source: {type: ServiceAccount, serviceAccount: {namespace: agents, name: other}}\n  - name: tools\n    authorization: {type: Inline, mcp: {methods: [{name: tools/call, params: [echo]}]}}\n  - name: any\n    source: {type: ServiceAccount, serviceAccount: {namespace: agents, name: planner}}";
    let idx = index(&format!("{MCP_BACKEND}{}", allow("p", rules)));
    let e = idx.explain(&post(&planner(), "mcp", tool("rm")));
    let outcomes: Vec<(&str, &Outcome, bool)> = e
        .steps
        .iter()
        .map(|s| (s.rule.as_deref().unwrap(), &s.outcome, s.deciding))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("other-sa", &Outcome::NotMatched(Mismatch::Source), false),
            ("tools", &Outcome::NotMatched(Mismatch::McpParams), false),
            ("any", &Outcome::Matched, true),
        ]
    );
    assert_eq!(e.decision, idx.decide(&post(&planner(), "mcp", tool("rm"))));
    let text = e.to_string();
    assert!(
        text.starts_with(
            "tool rm from spiffe://cluster.local/ns/agents/sa/planner to backend tools/mcp\n"
        ),
        "{text}"
    );
    assert!(text.contains("rule other-sa (spiffe://cluster.local/ns/agents/sa/other): no match: the rule is for another source"), "{text}");
    assert!(
        text.contains("rule any (spiffe://cluster.local/ns/agents/sa/planner): matched, decides"),
        "{text}"
    );
    assert!(
        text.ends_with("ALLOW: allowed by rule any of policy tools/p on backend tools/mcp"),
        "{text}"
    );
}

#[test]
fn lists_keep_exactly_what_the_caller_may_use() {
    let rules = "  - name: r\n    authorization: {type: Inline, mcp: {methods: [{name: tools/call, params: [get-sum, echo]}, {name: prompts/get, params: [greet]}, {name: resources/read, params: ['file:///a']}], mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS}}";
    let idx = index(&format!("{MCP_BACKEND}{}", allow("p", rules)));
    let list = |method: &str| post(&planner(), "mcp", mcp(method));
    let mut tools = json!({"tools": [{"name": "get-sum"}, {"name": "rm"}, {"name": "echo"}, {"title": "no name"}], "nextCursor": "c"});
    let f = idx.filter_list(&list("tools/list"), &mut tools).unwrap();
    assert_eq!(
        tools,
        json!({"tools": [{"name": "get-sum"}, {"name": "echo"}], "nextCursor": "c"})
    );
    assert_eq!(
        (f.kept, f.removed),
        (2, vec!["rm".to_owned(), String::new()])
    );
    let mut prompts = json!({"prompts": [{"name": "greet"}, {"name": "leak"}]});
    idx.filter_list(&list("prompts/list"), &mut prompts)
        .unwrap();
    assert_eq!(prompts, json!({"prompts": [{"name": "greet"}]}));
    let mut resources = json!({"resources": [{"uri": "file:///a", "name": "a"}, {"uri": "file:///b", "name": "file:///a"}]});
    idx.filter_list(&list("resources/list"), &mut resources)
        .unwrap();
    assert_eq!(
        resources,
        json!({"resources": [{"uri": "file:///a", "name": "a"}]})
    );
    let mut templates = json!({"resourceTemplates": [{"uriTemplate": "file:///{path}"}]});
    idx.filter_list(&list("resources/templates/list"), &mut templates)
        .unwrap();
    assert_eq!(templates, json!({"resourceTemplates": []}));
    assert!(
        idx.filter_list(&list("tools/call"), &mut json!({}))
            .is_err()
    );
    assert!(
        idx.filter_list(&list("tools/list"), &mut json!({"tools": {}}))
            .is_err()
    );
    assert!(idx.may_use(&list("tools/list"), ListKind::Tools, "echo"));
}

#[test]
fn recompiling_reuses_cel_and_decides_like_compiling() {
    let first_yaml = format!(
        "{MCP_BACKEND}{}",
        cel("request.mcp.tool_name.matches('^ec')")
    );
    let first = index(&first_yaml);
    let second = cel("request.mcp.tool_name == 'get-sum'").replace("name: p}", "name: q}");
    let broken = cel("request.mcp.tool_name ==").replace("name: p}", "name: broken}");
    let changed = snapshot(&format!("{first_yaml}{second}{broken}"));
    let fresh = agentnet_policy::compile(&changed, &Settings::default());
    let reused = agentnet_policy::recompile(&changed, &Settings::default(), &first);
    assert_eq!(fresh.report(), reused.report());
    assert_eq!(
        reused.report().policy(NS, "broken").map(|p| p.accepted),
        Some(false)
    );
    for name in ["echo", "get-sum", "rm"] {
        let req = post(&planner(), "mcp", tool(name));
        assert_eq!(fresh.decide(&req), reused.decide(&req), "{name}");
        assert_eq!(reused.decide(&req).is_allowed(), name != "rm", "{name}");
    }
}
