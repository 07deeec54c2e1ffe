//! Limits at their edges: the last accepted value and the first rejected one.

use agentnet_e2e::TestNs;
use agentnet_e2e::crds::install_crds;
use serde_json::{Value, json};

use super::{V0, V1, Verdict, submit};

fn targets(n: usize) -> Value {
    (0..n).map(|i| json!({"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": format!("b{i}")})).collect()
}

fn rules(n: usize) -> Value {
    (0..n).map(|i| json!({"name": format!("r{i}")})).collect()
}

fn policy(spec: Value) -> Value {
    let mut full = json!({"targetRefs": targets(1), "action": "Allow"});
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({"apiVersion": V1, "kind": "XAccessPolicy", "metadata": {"name": "p"}, "spec": full})
}

fn legacy(spec: Value) -> Value {
    let source = json!({"type": "ServiceAccount", "serviceAccount": {"name": "a"}});
    let mut full = json!({"targetRefs": targets(1), "rules": [{"name": "r", "source": source}]});
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({"apiVersion": V0, "kind": "XAccessPolicy", "metadata": {"name": "p"}, "spec": full})
}

fn legacy_rules(n: usize, name_len: usize) -> Value {
    let source = json!({"type": "ServiceAccount", "serviceAccount": {"name": "a"}});
    let name = |i: usize| {
        if i == 0 {
            "a".repeat(name_len)
        } else {
            format!("r{i}")
        }
    };
    (0..n)
        .map(|i| json!({"name": name(i), "source": source}))
        .collect()
}

fn authorization(authz: Value) -> Value {
    policy(json!({"rules": [{"name": "r", "authorization": authz}]}))
}

fn backend(protocol: &str, port: i64) -> Value {
    json!({"apiVersion": V0, "kind": "XBackend", "metadata": {"name": "b"},
        "spec": {protocol: {"serviceName": "svc", "port": port}}})
}

fn ext_auth(port: i64, max_size: i64) -> Value {
    policy(
        json!({"action": "ExternalAuth", "externalAuth": {"protocol": "HTTP",
        "backendRef": {"name": "authz", "port": port}, "http": {}, "forwardBody": {"maxSize": max_size}}}),
    )
}

fn strings(prefix: &str, n: usize) -> Value {
    (0..n).map(|i| json!(format!("{prefix}{i}"))).collect()
}

const TOO_MANY_10: &str = "Too many: 11: must have at most 10 items";
const AT_LEAST_1: &str = "should be greater than or equal to 1";
const AT_MOST_65535: &str = "should be less than or equal to 65535";

/// (what, object, None when accepted or Some(message) when rejected)
fn cases() -> Vec<(String, Value, Option<&'static str>)> {
    let mcp_methods = |n: usize| -> Value {
        let names = [
            "tools",
            "prompts",
            "resources",
            "prompts/list",
            "tools/list",
            "resources/list",
            "resources/templates/list",
            "prompts/get",
            "tools/call",
            "resources/subscribe",
            "resources/read",
        ];
        names[..n].iter().map(|m| json!({"name": m})).collect()
    };
    let mut cases = vec![
        (
            "10 targetRefs".into(),
            policy(json!({"targetRefs": targets(10)})),
            None,
        ),
        (
            "11 targetRefs".into(),
            policy(json!({"targetRefs": targets(11)})),
            Some(TOO_MANY_10),
        ),
        (
            "10 targetRefs (v0alpha0)".into(),
            legacy(json!({"targetRefs": targets(10)})),
            None,
        ),
        (
            "11 targetRefs (v0alpha0)".into(),
            legacy(json!({"targetRefs": targets(11)})),
            Some(TOO_MANY_10),
        ),
        ("10 rules".into(), policy(json!({"rules": rules(10)})), None),
        (
            "11 rules".into(),
            policy(json!({"rules": rules(11)})),
            Some(TOO_MANY_10),
        ),
        (
            "10 rules (v0alpha0)".into(),
            legacy(json!({"rules": legacy_rules(10, 1)})),
            None,
        ),
        (
            "11 rules (v0alpha0)".into(),
            legacy(json!({"rules": legacy_rules(11, 1)})),
            Some(TOO_MANY_10),
        ),
        (
            "rule name of 63".into(),
            policy(json!({"rules": [{"name": "a".repeat(63)}]})),
            None,
        ),
        (
            "rule name of 64".into(),
            policy(json!({"rules": [{"name": "a".repeat(64)}]})),
            Some("Too long: may not be more than 63 bytes"),
        ),
        (
            "rule name of 63 (v0alpha0)".into(),
            legacy(json!({"rules": legacy_rules(1, 63)})),
            None,
        ),
        (
            "rule name of 64 (v0alpha0)".into(),
            legacy(json!({"rules": legacy_rules(1, 64)})),
            Some("Too long: may not be more than 63 bytes"),
        ),
        (
            "param of 20".into(),
            authorization(
                json!({"type": "Inline", "mcp": {"methods": [{"name": "tools/call", "params": ["a".repeat(20)]}]}}),
            ),
            None,
        ),
        (
            "param of 21".into(),
            authorization(
                json!({"type": "Inline", "mcp": {"methods": [{"name": "tools/call", "params": ["a".repeat(21)]}]}}),
            ),
            Some("Too long: may not be more than 20 bytes"),
        ),
        (
            "10 params".into(),
            authorization(
                json!({"type": "Inline", "mcp": {"methods": [{"name": "tools/call", "params": strings("t", 10)}]}}),
            ),
            None,
        ),
        (
            "11 params".into(),
            authorization(
                json!({"type": "Inline", "mcp": {"methods": [{"name": "tools/call", "params": strings("t", 11)}]}}),
            ),
            Some(TOO_MANY_10),
        ),
        (
            "10 MCP methods".into(),
            authorization(json!({"type": "Inline", "mcp": {"methods": mcp_methods(10)}})),
            None,
        ),
        (
            "11 MCP methods".into(),
            authorization(json!({"type": "Inline", "mcp": {"methods": mcp_methods(11)}})),
            Some(TOO_MANY_10),
        ),
        (
            "16 A2A methods".into(),
            authorization(json!({"type": "Inline", "a2a": {"methods": strings("M", 16)}})),
            None,
        ),
        (
            "17 A2A methods".into(),
            authorization(json!({"type": "Inline", "a2a": {"methods": strings("M", 17)}})),
            Some("Too many: 17: must have at most 16 items"),
        ),
        (
            "32 A2A skills".into(),
            authorization(json!({"type": "Inline", "a2a": {"skills": strings("s", 32)}})),
            None,
        ),
        (
            "33 A2A skills".into(),
            authorization(json!({"type": "Inline", "a2a": {"skills": strings("s", 33)}})),
            Some("Too many: 33: must have at most 32 items"),
        ),
        ("forwardBody.maxSize 65535".into(), ext_auth(1, 65535), None),
        (
            "forwardBody.maxSize 65536".into(),
            ext_auth(1, 65536),
            Some(AT_MOST_65535),
        ),
        ("backendRef.port 0".into(), ext_auth(0, 0), Some(AT_LEAST_1)),
        (
            "backendRef.port 65536".into(),
            ext_auth(65536, 0),
            Some(AT_MOST_65535),
        ),
    ];
    for (field, n) in [("hosts", 10), ("ports", 10), ("paths", 10), ("headers", 10)] {
        let items = |n: usize| -> Value {
            (0..n)
                .map(|i| match field {
                    "hosts" => json!(format!("h{i}.example.org")),
                    "ports" => json!(1000 + i),
                    "paths" => json!({"value": format!("/p{i}")}),
                    _ => json!({"name": format!("x-h{i}"), "value": "v"}),
                })
                .collect()
        };
        cases.push((
            format!("{n} {field}"),
            authorization(json!({"type": "Inline", field: items(n)})),
            None,
        ));
        cases.push((
            format!("{} {field}", n + 1),
            authorization(json!({"type": "Inline", field: items(n + 1)})),
            Some(TOO_MANY_10),
        ));
    }
    for (port, expected) in [
        (0, Some(AT_LEAST_1)),
        (1, None),
        (65535, None),
        (65536, Some(AT_MOST_65535)),
    ] {
        for protocol in ["mcp", "a2a"] {
            cases.push((
                format!("{protocol} port {port}"),
                backend(protocol, port),
                expected,
            ));
        }
        cases.push((
            format!("rule port {port}"),
            authorization(json!({"type": "Inline", "ports": [port]})),
            expected,
        ));
    }
    cases
}

#[tokio::test]
async fn limits_admit_their_edge_and_reject_one_past_it() {
    install_crds().await.unwrap();
    let ns = TestNs::new("e2e-crd-bounds").await.unwrap();
    let cases = cases();
    let mut failures = Vec::new();
    for (what, object, expected) in &cases {
        match (submit(&ns, &object.to_string(), true).unwrap(), expected) {
            (Verdict::Accepted, None) => {}
            (Verdict::Rejected(m), Some(e)) if m.contains(e) => {}
            (verdict, expected) => {
                failures.push(format!("{what}: expected {expected:?}, got {verdict:?}"))
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} boundary cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
