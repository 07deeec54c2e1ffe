//! upstream-api.md §2.2 (admission and status) and XBackend status, through `report()`.

use agentnet_policy::{
    AppliedDefault, Cause, Destination, Endpoint, PolicyRef, Protocol, Reason, Settings,
};

use crate::fixtures::*;

fn policy(name: &str, created: &str, action: &str, targets: &[&str]) -> String {
    let refs: Vec<String> = targets
        .iter()
        .map(|t| format!("{{group: agentic.networking.x-k8s.io, kind: XBackend, name: {t}}}"))
        .collect();
    let ext = if action == "ExternalAuth" {
        "\n  externalAuth: {protocol: HTTP, backendRef: {name: authz, port: 8000}, http: {}}"
    } else {
        ""
    };
    format!(
        "---\napiVersion: agentic.networking.x-k8s.io/v1alpha1\nkind: XAccessPolicy\nmetadata: {{name: {name}, creationTimestamp: '{created}'}}\nspec:\n  targetRefs: [{}]\n  action: {action}{ext}\n  rules:\n  - name: r\n    authorization: {{type: Inline, mcp: {{methods: [{{name: tools/call, params: [{name}]}}]}}}}\n",
        refs.join(", ")
    )
}

fn backend(name: &str) -> String {
    format!(
        "---\napiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {{name: {name}}}\nspec: {{mcp: {{serviceName: {name}, port: 80}}}}\n"
    )
}

#[test]
fn a_sixth_policy_on_a_target_exceeds_the_limit_by_seniority() {
    // Created out of order; `p-a` and `p-b` tie on time and are ordered by name.
    let times = [
        ("p6", "2026-01-06T00:00:00Z"),
        ("p2", "2026-01-02T00:00:00Z"),
        ("p-b", "2026-01-01T00:00:00Z"),
    ];
    let more = [
        ("p-a", "2026-01-01T00:00:00Z"),
        ("p4", "2026-01-04T00:00:00Z"),
        ("p5", "2026-01-05T00:00:00Z"),
    ];
    let policies: String = times
        .iter()
        .chain(&more)
        .map(|(n, t)| policy(n, t, "Allow", &["mcp"]))
        .collect();
    let idx = index(&format!("{MCP_BACKEND}{policies}"));
    for (name, accepted) in [
        ("p-a", true),
        ("p-b", true),
        ("p2", true),
        ("p4", true),
        ("p5", true),
        ("p6", false),
    ] {
        let r = idx.report().policy(NS, name).unwrap();
        assert_eq!(r.accepted, accepted, "{name}");
        let c = &r.targets[0].accepted;
        if accepted {
            assert_eq!(
                (c.status, c.reason, c.message.as_str()),
                (true, Reason::Accepted, "AccessPolicy accepted for target")
            );
        } else {
            assert_eq!(
                (c.reason, c.message.as_str()),
                (
                    Reason::LimitPerTargetExceeded,
                    "Maximum number of AccessPolicies (5) exceeded for target mcp"
                )
            );
        }
    }
    assert!(
        !allowed(&idx, &post(&sa("a", "b"), "mcp", tool("p6"))),
        "a rejected policy admits nothing"
    );
    assert!(allowed(&idx, &post(&sa("a", "b"), "mcp", tool("p5"))));
}

#[test]
fn rejection_on_one_target_rejects_the_policy_on_all_targets() {
    let full: String = (1..=5)
        .map(|i| policy(&format!("p{i}"), "2026-01-01T00:00:00Z", "Allow", &["mcp"]))
        .collect();
    let late = policy("late", "2026-02-01T00:00:00Z", "Allow", &["other", "mcp"]);
    let idx = index(&format!("{MCP_BACKEND}{}{full}{late}", backend("other")));
    let r = idx.report().policy(NS, "late").unwrap();
    assert!(!r.accepted);
    assert_eq!(r.targets.len(), 2);
    assert!(
        r.targets
            .iter()
            .all(|t| t.accepted.reason == Reason::LimitPerTargetExceeded),
        "{r:?}"
    );
    // Its other target fails closed rather than opening up (beyond upstream).
    let d = decide(&idx, &post(&sa("a", "b"), "other", tool("late")));
    assert_eq!(
        (d.is_allowed(), d.default),
        (false, Some(AppliedDefault::FailClosed))
    );
}

#[test]
fn only_one_external_auth_policy_per_target() {
    let idx = index(&format!(
        "{MCP_BACKEND}{}{}{}",
        policy("ext-new", "2026-01-02T00:00:00Z", "ExternalAuth", &["mcp"]),
        policy("ext-old", "2026-01-01T00:00:00Z", "ExternalAuth", &["mcp"]),
        policy("allow", "2026-01-03T00:00:00Z", "Allow", &["mcp"]),
    ));
    let c = &idx.report().policy(NS, "ext-new").unwrap().targets[0].accepted;
    assert_eq!(
        (c.reason, c.message.as_str()),
        (
            Reason::LimitPerTargetExceeded,
            "An older ExternalAuth AccessPolicy already exists for target mcp"
        )
    );
    assert!(idx.report().policy(NS, "ext-old").unwrap().accepted);
    assert!(idx.report().policy(NS, "allow").unwrap().accepted);
}

#[test]
fn policies_are_kept_in_upstream_order() {
    let idx = index(&format!(
        "{MCP_BACKEND}{}{}{}{}",
        policy("b", "2026-01-01T00:00:00Z", "Allow", &["mcp"]),
        policy("a", "2026-01-01T00:00:00Z", "Allow", &["mcp"]),
        policy("old", "2025-12-01T00:00:00Z", "Allow", &["mcp"]),
        policy("ext", "2026-03-01T00:00:00Z", "ExternalAuth", &["mcp"]),
    ));
    let order: Vec<&str> = idx
        .backend(NS, "mcp")
        .unwrap()
        .policies()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(order, ["ext", "old", "a", "b"]);
}

#[test]
fn invalid_cel_is_reported_with_the_compilers_message_and_fails_closed() {
    let bad = allow(
        "bad",
        "  - name: c\n    authorization: {type: CEL, cel: {expression: \"request.mcp.tool_name ==\"}}",
    );
    let idx = index(&format!("{MCP_BACKEND}{bad}"));
    let c = &idx.report().policy(NS, "bad").unwrap().targets[0].accepted;
    assert_eq!((c.status, c.reason), (false, Reason::InvalidCel));
    assert!(
        c.message
            .starts_with("Failed to compile CEL expression \"request.mcp.tool_name ==\": "),
        "{}",
        c.message
    );
    let d = decide(&idx, &post(&sa("a", "b"), "mcp", tool("x")));
    assert_eq!(
        d.cause,
        Cause::FailClosed {
            rejected: vec![PolicyRef::new(NS, "bad")]
        }
    );
    assert!(
        d.to_string()
            .contains("fails closed because policy tools/bad was not accepted"),
        "{d}"
    );
    // Beside an accepted policy, the accepted rules decide, exactly as upstream.
    let good = allow(
        "good",
        "  - name: r\n    authorization: {type: Inline, mcp: {methods: [{name: tools/call, params: [x]}]}}",
    );
    let idx = index(&format!("{MCP_BACKEND}{bad}{good}"));
    assert!(allowed(&idx, &post(&sa("a", "b"), "mcp", tool("x"))));
    assert!(!allowed(&idx, &post(&sa("a", "b"), "mcp", tool("y"))));
}

#[test]
fn policies_agentnet_cannot_enforce_as_written_are_invalid() {
    let cases = [
        (
            "  - name: r\n    source: {type: ServiceAccount}",
            "rule r: serviceAccount must be specified when type is set to 'ServiceAccount'",
        ),
        (
            "  - name: r\n    source: {type: SPIFFE}",
            "rule r: spiffe must be specified when type is set to 'SPIFFE'",
        ),
        (
            "  - name: r\n    authorization: {type: Inline, paths: [{type: RegularExpression, value: '('}]}",
            "rule r: invalid regular expression",
        ),
        (
            "  - name: r\n    authorization: {type: CEL, cel: {expression: 'true'}, mcp: {methods: []}}",
            "rule r: mcp.methods must not be specified when type is set to 'CEL'",
        ),
        (
            "  - name: r\n    source: {spiffe: 'spiffe://x/y'}",
            "rule r: type must be specified when source is set",
        ),
        (
            "  - name: r\n    authorization: {type: CEL}",
            "rule r: cel must be specified when type is set to 'CEL'",
        ),
    ];
    for (rules, message) in cases {
        let idx = index(&format!("{MCP_BACKEND}{}", allow("p", rules)));
        let c = &idx.report().policy(NS, "p").unwrap().targets[0].accepted;
        assert_eq!(c.reason, Reason::Invalid, "{rules}");
        assert!(c.message.starts_with(message), "{}", c.message);
        assert!(
            !allowed(&idx, &post(&sa("a", "b"), "mcp", tool("x"))),
            "{rules}"
        );
    }
}

#[test]
fn unresolved_targets_are_reported_per_target() {
    let p = "---\napiVersion: agentic.networking.x-k8s.io/v1alpha1\nkind: XAccessPolicy\nmetadata: {name: p}\nspec:\n  targetRefs:\n  - {group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}\n  - {group: agentic.networking.x-k8s.io, kind: XBackend, name: missing}\n  - {group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}\n  action: Allow\n";
    let idx = index(&format!("{MCP_BACKEND}{p}"));
    let r = idx.report().policy(NS, "p").unwrap();
    let reasons: Vec<(&str, Reason)> = r
        .targets
        .iter()
        .map(|t| (t.target.name.as_str(), t.accepted.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            ("mcp", Reason::Accepted),
            ("missing", Reason::TargetNotFound)
        ]
    );
    assert_eq!(
        r.targets[1].accepted.message,
        "XBackend tools/missing not found"
    );
    let gw = "---\napiVersion: agentic.networking.x-k8s.io/v1alpha1\nkind: XAccessPolicy\nmetadata: {name: gw}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: g}]\n  action: Allow\n";
    let idx = index(gw);
    let c = &idx.report().policy(NS, "gw").unwrap().targets[0].accepted;
    assert_eq!(c.reason, Reason::TargetNotFound);
    assert!(
        c.message.contains("target the XBackends instead"),
        "{}",
        c.message
    );
}

const SERVICE: &str = r#"
---
apiVersion: v1
kind: Service
metadata: {name: mcp-svc}
spec: {clusterIP: 10.96.0.7, ports: [{name: http, port: 8080, targetPort: 3001}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: mcp-svc-abc, labels: {kubernetes.io/service-name: mcp-svc}}
addressType: IPv4
ports: [{name: http, port: 3001}]
endpoints:
- {addresses: [10.0.0.2]}
- {addresses: [10.0.0.1], conditions: {ready: true}}
- {addresses: [10.0.0.3], conditions: {ready: false}}
"#;

#[test]
fn backends_report_accepted_and_resolved_refs() {
    let idx = index(&format!("{MCP_BACKEND}{SERVICE}{A2A_BACKEND}"));
    let mcp = idx.report().backend(NS, "mcp").unwrap();
    assert_eq!(
        (mcp.accepted.status, mcp.resolved_refs.status),
        (true, true)
    );
    let agent = idx.report().backend(NS, "agent").unwrap();
    assert_eq!(
        (agent.accepted.status, agent.resolved_refs.reason),
        (true, Reason::BackendNotFound)
    );
    assert_eq!(
        agent.resolved_refs.message,
        "Service tools/agent-svc not found"
    );
    let b = idx.backend(NS, "mcp").unwrap();
    let want = Destination::Service {
        namespace: NS.into(),
        name: "mcp-svc".into(),
        fqdn: "mcp-svc.tools.svc.cluster.local".into(),
        port: 8080,
        cluster_ip: Some("10.96.0.7".into()),
        endpoints: vec![
            Endpoint {
                address: "10.0.0.1".into(),
                port: 3001,
            },
            Endpoint {
                address: "10.0.0.2".into(),
                port: 3001,
            },
        ],
    };
    assert_eq!(
        (b.protocol(), b.path(), b.destination()),
        (Protocol::Mcp, "/mcp", Some(&want))
    );
    assert_eq!(idx.backend(NS, "agent").unwrap().path(), "/");
}

#[test]
fn invalid_and_conflicting_backends_deny_everything() {
    let both = "---\napiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {name: both}\nspec: {mcp: {serviceName: s, hostname: h.example.com, port: 80}}\n";
    let twin = "---\napiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {name: twin, creationTimestamp: '2030-01-01T00:00:00Z'}\nspec: {mcp: {serviceName: mcp-svc, port: 8080}}\n";
    let idx = index(&format!("{MCP_BACKEND}{both}{twin}"));
    let r = idx.report().backend(NS, "both").unwrap();
    assert_eq!(
        (r.accepted.reason, r.accepted.message.as_str()),
        (
            Reason::Invalid,
            "exactly one of the fields in [serviceName hostname] must be set"
        )
    );
    let r = idx.report().backend(NS, "twin").unwrap();
    assert_eq!(r.accepted.reason, Reason::Conflicted);
    assert!(
        r.accepted
            .message
            .contains("already claimed by XBackend tools/mcp"),
        "{}",
        r.accepted.message
    );
    for name in ["both", "twin"] {
        let d = decide(&idx, &post(&sa("a", "b"), name, tool("x")));
        assert!(matches!(d.cause, Cause::BackendInvalid(_)), "{name}: {d}");
    }
    assert_eq!(
        idx.resolve("mcp-svc", 8080, NS)
            .map(|b| b.id().name.as_str()),
        Some("mcp")
    );
    assert_eq!(
        idx.resolve("s", 80, NS).map(|b| b.id().name.as_str()),
        Some("both")
    );
}

#[test]
fn reads_upstreams_valid_examples_when_present() {
    let dir = std::path::Path::new("/work/shared/upstream/crd-examples/valid");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut yaml = format!(
        "{}{}{}",
        backend("my-backend"),
        backend("valid-backend"),
        MCP_BACKEND
    );
    for entry in entries {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        if text.contains("v1alpha1") && text.contains("kind: XAccessPolicy") {
            yaml.push_str(&format!("---\n{text}\n"));
        }
    }
    let idx = compile_checked(&yaml);
    let agent = sa("default", "my-agent");
    let req = |tool_name: &str| {
        let mut r = post(&agent, "my-backend", crate::fixtures::tool(tool_name));
        r.backend.namespace = "default".into();
        r
    };
    assert!(allowed(&idx, &req("verify_token")));
    assert!(!allowed(&idx, &req("delete_token")));
}

fn compile_checked(yaml: &str) -> agentnet_policy::Index {
    let mut snap = snapshot(yaml);
    for p in &mut snap.policies {
        p.metadata.namespace = Some("default".into());
    }
    for b in &mut snap.backends {
        b.metadata.namespace = Some("default".into());
    }
    let idx = agentnet_policy::compile(&snap, &Settings::default());
    for p in &idx.report().policies {
        let gateway = p.targets.iter().any(|t| t.target.kind == "Gateway");
        assert!(p.accepted, "{p:?}");
        assert!(
            gateway || p.targets.iter().all(|t| t.accepted.status),
            "{p:?}"
        );
    }
    idx
}

#[test]
fn the_index_serializes_for_the_config_endpoint() {
    let idx = index(&format!(
        "{MCP_BACKEND}{SERVICE}{}",
        policy("p", "2026-01-01T00:00:00Z", "Allow", &["mcp"])
    ))
    .with_generation(7);
    let json = serde_json::to_value(&idx).unwrap();
    assert_eq!(json["generation"], 7);
    assert_eq!(json["settings"]["backendDefault"], "allow");
    let b = &json["backends"][0];
    assert_eq!(
        (
            b["backend"]["name"].as_str(),
            b["protocol"].as_str(),
            b["hasToolRules"].as_bool()
        ),
        (Some("mcp"), Some("MCP"), Some(true))
    );
    assert_eq!(
        b["destination"]["service"]["endpoints"][0]["address"],
        "10.0.0.1"
    );
    assert_eq!(b["policies"][0]["name"], "p");
    assert_eq!(
        json["report"]["policies"][0]["targets"][0]["accepted"]["reason"],
        "Accepted"
    );
}
