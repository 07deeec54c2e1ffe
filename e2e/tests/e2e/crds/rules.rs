//! One case per CEL validation rule: an object the rule lets through and a near-miss it
//! rejects with its message. A rule in the CRDs without a case fails the coverage test.

use std::collections::BTreeSet;

use agentnet_e2e::TestNs;
use agentnet_e2e::crds::{chart_crds, install_crds};
use serde_json::{Value, json};

use super::{V0, V1, Verdict, submit};

struct Case {
    /// `<Kind>/<version>` of the schema the rule is in.
    schema: &'static str,
    message: &'static str,
    valid: Value,
    invalid: Value,
}

const BACKEND: &str = "XBackend/v0alpha0";
const POLICY_V1: &str = "XAccessPolicy/v1alpha1";
const POLICY_V0: &str = "XAccessPolicy/v0alpha0";

fn backend(spec: Value) -> Value {
    json!({"apiVersion": V0, "kind": "XBackend", "metadata": {"name": "b"}, "spec": spec})
}

fn targets() -> Value {
    json!([{"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "b"}])
}

fn v1(spec: Value) -> Value {
    let mut full = json!({"targetRefs": targets(), "action": "Allow"});
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({"apiVersion": V1, "kind": "XAccessPolicy", "metadata": {"name": "p"}, "spec": full})
}

fn v0(spec: Value) -> Value {
    let mut full = json!({"targetRefs": targets(), "rules": [{"name": "r", "source": sa()}]});
    full.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    json!({"apiVersion": V0, "kind": "XAccessPolicy", "metadata": {"name": "p"}, "spec": full})
}

fn sa() -> Value {
    json!({"type": "ServiceAccount", "serviceAccount": {"name": "agent"}})
}

fn spiffe() -> Value {
    json!({"type": "SPIFFE", "spiffe": "spiffe://cluster.local/ns/a/sa/b"})
}

fn v1_rule(authorization: Value) -> Value {
    v1(json!({"rules": [{"name": "r", "source": sa(), "authorization": authorization}]}))
}

fn v1_ext(filter: Value) -> Value {
    v1(json!({"action": "ExternalAuth", "externalAuth": filter}))
}

fn v0_ext(filter: Value) -> Value {
    v0(
        json!({"rules": [{"name": "r", "source": sa(), "authorization": {"type": "ExternalAuth", "externalAuth": filter}}]}),
    )
}

fn v0_authorization(authorization: Value) -> Value {
    v0(json!({"rules": [{"name": "r", "source": sa(), "authorization": authorization}]}))
}

fn case(schema: &'static str, message: &'static str, valid: Value, invalid: Value) -> Case {
    Case {
        schema,
        message,
        valid,
        invalid,
    }
}

fn backend_cases() -> Vec<Case> {
    let one_of = "exactly one of the fields in [serviceName hostname] must be set";
    vec![
        case(
            BACKEND,
            one_of,
            backend(json!({"mcp": {"hostname": "mcp.example.com", "port": 443}})),
            backend(
                json!({"mcp": {"serviceName": "s", "hostname": "mcp.example.com", "port": 443}}),
            ),
        ),
        case(
            BACKEND,
            one_of,
            backend(json!({"a2a": {"serviceName": "agent", "port": 9999}})),
            backend(json!({"a2a": {"port": 9999}})),
        ),
        case(
            BACKEND,
            "exactly one of the fields in [mcp a2a] must be set",
            backend(json!({"mcp": {"serviceName": "s", "port": 80}})),
            backend(
                json!({"mcp": {"serviceName": "s", "port": 80}, "a2a": {"serviceName": "s", "port": 80}}),
            ),
        ),
    ]
}

/// (message, accepted externalAuth, rejected externalAuth): checked in both versions.
fn external_auth_filters() -> Vec<(&'static str, Value, Value)> {
    let svc = |port: Option<u16>| match port {
        Some(p) => json!({"name": "authz", "port": p}),
        None => json!({"name": "authz"}),
    };
    vec![
        (
            "grpc must be specified when protocol is set to 'GRPC'",
            json!({"protocol": "GRPC", "backendRef": svc(Some(50051)), "grpc": {}}),
            json!({"protocol": "GRPC", "backendRef": svc(Some(50051))}),
        ),
        (
            "protocol must be 'GRPC' when grpc is set",
            json!({"protocol": "GRPC", "backendRef": svc(Some(50051)), "grpc": {"allowedHeaders": ["a"]}}),
            json!({"protocol": "HTTP", "backendRef": svc(Some(8000)), "http": {}, "grpc": {}}),
        ),
        (
            "http must be specified when protocol is set to 'HTTP'",
            json!({"protocol": "HTTP", "backendRef": svc(Some(8000)), "http": {}}),
            json!({"protocol": "HTTP", "backendRef": svc(Some(8000))}),
        ),
        (
            "protocol must be 'HTTP' when http is set",
            json!({"protocol": "HTTP", "backendRef": svc(Some(8000)), "http": {"path": "/check"}}),
            json!({"protocol": "GRPC", "backendRef": svc(Some(50051)), "grpc": {}, "http": {}}),
        ),
        (
            "Must have port for Service reference",
            json!({"protocol": "GRPC", "backendRef": {"group": "example.io", "kind": "Authorizer", "name": "a"}, "grpc": {}}),
            json!({"protocol": "GRPC", "backendRef": svc(None), "grpc": {}}),
        ),
    ]
}

/// (message, accepted source, rejected source): checked in both versions.
fn source_rules() -> Vec<(&'static str, Value, Value)> {
    vec![
        (
            "serviceAccount must be specified when type is set to 'ServiceAccount'",
            sa(),
            json!({"type": "ServiceAccount"}),
        ),
        (
            "spiffe must be specified when type is set to 'SPIFFE'",
            spiffe(),
            json!({"type": "SPIFFE"}),
        ),
        (
            "spiffe must not be specified when type is set to 'ServiceAccount'",
            sa(),
            json!({"type": "ServiceAccount", "serviceAccount": {"name": "a"}, "spiffe": "spiffe://td/x"}),
        ),
        (
            "serviceAccount must not be specified when type is set to 'SPIFFE'",
            spiffe(),
            json!({"type": "SPIFFE", "spiffe": "spiffe://td/x", "serviceAccount": {"name": "a"}}),
        ),
    ]
}

const TARGET_KINDS: &str = "TargetRef must have group agentic.networking.x-k8s.io and kind XBackend, or group gateway.networking.k8s.io and kind Gateway";

fn target_cases(schema: &'static str, policy: fn(Value) -> Value) -> Vec<Case> {
    let gateways = json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "a"},
                          {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "b"}]);
    let service = json!([{"group": "", "kind": "Service", "name": "s"}]);
    let mixed = json!([{"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "a"},
                       {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "b"}]);
    vec![
        case(
            schema,
            TARGET_KINDS,
            policy(json!({"targetRefs": gateways.clone()})),
            policy(json!({"targetRefs": service})),
        ),
        case(
            schema,
            "All targetRefs must have the same Kind",
            policy(json!({"targetRefs": gateways})),
            policy(json!({"targetRefs": mixed})),
        ),
        case(
            schema,
            "AccessRule names must be unique",
            policy(
                json!({"rules": [{"name": "a", "source": sa()}, {"name": "b", "source": sa()}]}),
            ),
            policy(
                json!({"rules": [{"name": "a", "source": sa()}, {"name": "a", "source": sa()}]}),
            ),
        ),
    ]
}

fn v1_cases() -> Vec<Case> {
    let cel = json!({"expression": "request.method == 'POST'"});
    let ext =
        json!({"protocol": "HTTP", "backendRef": {"name": "authz", "port": 8000}, "http": {}});
    let mut cases = vec![
        case(
            POLICY_V1,
            "externalAuth must be specified when action is set to 'ExternalAuth'",
            v1_ext(ext.clone()),
            v1(json!({"action": "ExternalAuth"})),
        ),
        case(
            POLICY_V1,
            "externalAuth must not be specified when action is set to 'Allow'",
            v1(json!({})),
            v1(json!({"externalAuth": ext})),
        ),
        case(
            POLICY_V1,
            "type must be specified when source is set; omit source to admit any caller",
            v1(json!({"rules": [{"name": "r"}]})),
            v1(json!({"rules": [{"name": "r", "source": {"serviceAccount": {"name": "a"}}}]})),
        ),
        case(
            POLICY_V1,
            "cel must be specified when type is set to 'CEL'",
            v1_rule(json!({"type": "CEL", "cel": cel})),
            v1_rule(json!({"type": "CEL"})),
        ),
        case(
            POLICY_V1,
            "cel must not be specified when type is set to 'Inline'",
            v1_rule(json!({"type": "Inline"})),
            v1_rule(json!({"type": "Inline", "cel": cel})),
        ),
        case(
            POLICY_V1,
            "mcp.methods must not be specified when type is set to 'CEL'",
            v1_rule(
                json!({"type": "CEL", "cel": cel, "mcp": {"mcpBaseProtocolMethodsOption": "MATCH_BASE_PROTOCOL_METHODS"}}),
            ),
            v1_rule(
                json!({"type": "CEL", "cel": cel, "mcp": {"methods": [{"name": "tools/call"}]}}),
            ),
        ),
        case(
            POLICY_V1,
            "a2a must not be specified when type is set to 'CEL'",
            v1_rule(json!({"type": "Inline", "a2a": {"skills": ["plan"]}})),
            v1_rule(json!({"type": "CEL", "cel": cel, "a2a": {"skills": ["plan"]}})),
        ),
        case(
            POLICY_V1,
            "Params can only be specified for get, call, subscribe, unsubscribe, or read methods",
            v1_rule(
                json!({"type": "Inline", "mcp": {"methods": [{"name": "resources/read", "params": ["file:///a"]}]}}),
            ),
            v1_rule(
                json!({"type": "Inline", "mcp": {"methods": [{"name": "tools/list", "params": ["a"]}]}}),
            ),
        ),
    ];
    cases.extend(target_cases(POLICY_V1, v1));
    for (message, valid, invalid) in external_auth_filters() {
        cases.push(case(POLICY_V1, message, v1_ext(valid), v1_ext(invalid)));
    }
    for (message, valid, invalid) in source_rules() {
        let with = |s: Value| v1(json!({"rules": [{"name": "r", "source": s}]}));
        cases.push(case(POLICY_V1, message, with(valid), with(invalid)));
    }
    cases
}

fn v0_cases() -> Vec<Case> {
    let ext =
        json!({"protocol": "HTTP", "backendRef": {"name": "authz", "port": 8000}, "http": {}});
    let ext_rule = |name: &str| json!({"name": name, "source": sa(), "authorization": {"type": "ExternalAuth", "externalAuth": ext}});
    let mut cases = vec![
        case(
            POLICY_V0,
            "a maximum of one rule per policy can specify 'ExternalAuth' authorization type",
            v0(json!({"rules": [ext_rule("a")]})),
            v0(json!({"rules": [ext_rule("a"), ext_rule("b")]})),
        ),
        case(
            POLICY_V0,
            "an 'ExternalAuth' rule cannot be combined with other rules; v1alpha1 has one action per policy",
            v0(json!({"rules": [ext_rule("a")]})),
            v0(json!({"rules": [ext_rule("a"), {"name": "b", "source": sa()}]})),
        ),
        case(
            POLICY_V0,
            "tools must be specified when type is set to 'InlineTools'",
            v0_authorization(json!({"type": "InlineTools", "tools": ["get-sum"]})),
            v0_authorization(json!({"type": "InlineTools"})),
        ),
        case(
            POLICY_V0,
            "externalAuth must be specified when type is set to 'ExternalAuth'",
            v0_authorization(json!({"type": "ExternalAuth", "externalAuth": ext})),
            v0_authorization(json!({"type": "ExternalAuth"})),
        ),
        case(
            POLICY_V0,
            "cel must be specified when type is set to 'CEL'",
            v0_authorization(json!({"type": "CEL", "cel": {"expression": "true", "message": "m"}})),
            v0_authorization(json!({"type": "CEL"})),
        ),
        case(
            POLICY_V0,
            "only one of tools, externalAuth or cel can be specified",
            v0_authorization(json!({"type": "InlineTools", "tools": ["a"]})),
            v0_authorization(
                json!({"type": "InlineTools", "tools": ["a"], "cel": {"expression": "true"}}),
            ),
        ),
    ];
    cases.extend(target_cases(POLICY_V0, v0));
    for (message, valid, invalid) in external_auth_filters() {
        cases.push(case(POLICY_V0, message, v0_ext(valid), v0_ext(invalid)));
    }
    for (message, valid, invalid) in source_rules() {
        let with = |s: Value| v0(json!({"rules": [{"name": "r", "source": s}]}));
        cases.push(case(POLICY_V0, message, with(valid), with(invalid)));
    }
    cases
}

const RATE_LIMIT: &str = "RateLimitPolicy/v1alpha1";

/// A RateLimitPolicy on XBackend `b` with these limits.
fn rate_limit(limits: Value) -> Value {
    json!({"apiVersion": "agentnet.dev/v1alpha1", "kind": "RateLimitPolicy", "metadata": {"name": "rl"},
           "spec": {"targetRefs": targets(), "limits": limits}})
}

/// One limit of 10 requests per second, with `extra` fields.
fn limit(extra: Value) -> Value {
    let mut l = json!({"name": "l", "requests": 10, "period": "1s"});
    l.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    l
}

fn rate_limit_cases() -> Vec<Case> {
    let one = |extra: Value| rate_limit(json!([limit(extra)]));
    let gateway = json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "g"}]);
    let mut on_gateway = one(json!({}));
    on_gateway["spec"]["targetRefs"] = gateway;
    let mut cases = vec![
        case(
            RATE_LIMIT,
            "a RateLimitPolicy targets XBackends (group agentic.networking.x-k8s.io, kind XBackend)",
            one(json!({})),
            on_gateway,
        ),
        case(
            RATE_LIMIT,
            "limit names must be unique within a RateLimitPolicy",
            rate_limit(json!([limit(json!({})), limit(json!({"name": "m"}))])),
            rate_limit(json!([limit(json!({})), limit(json!({}))])),
        ),
        case(
            RATE_LIMIT,
            "mcp and a2a are mutually exclusive: a limit counts one protocol's requests",
            one(json!({"mcp": {"methods": ["tools/call"]}})),
            one(json!({"mcp": {}, "a2a": {}})),
        ),
        case(
            RATE_LIMIT,
            "keyBy Tool applies to MCP limits; use Skill for A2A",
            one(json!({"mcp": {}, "keyBy": ["Source", "Tool"]})),
            one(json!({"a2a": {}, "keyBy": ["Tool"]})),
        ),
        case(
            RATE_LIMIT,
            "keyBy Skill applies to A2A limits; use Tool for MCP",
            one(json!({"a2a": {"skills": ["s"]}, "keyBy": ["Skill"]})),
            one(json!({"mcp": {}, "keyBy": ["Skill"]})),
        ),
        case(
            RATE_LIMIT,
            "type must be specified when source is set; omit source to admit any caller",
            one(json!({"source": sa()})),
            one(json!({"source": {"serviceAccount": {"name": "a"}}})),
        ),
    ];
    for (message, valid, invalid) in source_rules() {
        cases.push(case(
            RATE_LIMIT,
            message,
            one(json!({"source": valid})),
            one(json!({"source": invalid})),
        ));
    }
    cases
}

fn all_cases() -> Vec<Case> {
    let mut cases = backend_cases();
    cases.extend(v1_cases());
    cases.extend(v0_cases());
    cases.extend(rate_limit_cases());
    cases
}

/// Every `(schema, message)` of an `x-kubernetes-validations` rule in the chart's CRDs.
fn rules_in_crds() -> BTreeSet<(String, String)> {
    fn walk(schema: &Value, key: &str, out: &mut BTreeSet<(String, String)>) {
        for rule in schema["x-kubernetes-validations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            out.insert((
                key.to_owned(),
                rule["message"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        for sub in schema["properties"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.values())
        {
            walk(sub, key, out);
        }
        if let Some(items) = schema.get("items") {
            walk(items, key, out);
        }
    }
    let mut out = BTreeSet::new();
    for crd in chart_crds().unwrap() {
        for version in &crd.spec.versions {
            let schema =
                serde_json::to_value(&version.schema.as_ref().unwrap().open_api_v3_schema).unwrap();
            walk(
                &schema,
                &format!("{}/{}", crd.spec.names.kind, version.name),
                &mut out,
            );
        }
    }
    out
}

#[test]
fn every_cel_rule_in_the_crds_has_a_case() {
    let covered: BTreeSet<_> = all_cases()
        .iter()
        .map(|c| (c.schema.to_owned(), c.message.to_owned()))
        .collect();
    let rules = rules_in_crds();
    let missing: Vec<_> = rules.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "CEL rules without an e2e case: {missing:#?}"
    );
    let stale: Vec<_> = covered.difference(&rules).collect();
    assert!(
        stale.is_empty(),
        "cases for rules the CRDs do not have: {stale:#?}"
    );
}

#[tokio::test]
async fn every_cel_rule_admits_its_valid_case_and_rejects_its_invalid_case_with_its_message() {
    install_crds().await.unwrap();
    let ns = TestNs::new("e2e-crd-rules").await.unwrap();
    let cases = all_cases();
    let mut failures = Vec::new();
    for c in &cases {
        if let Verdict::Rejected(m) = submit(&ns, &c.valid.to_string(), true).unwrap() {
            failures.push(format!(
                "[{}] {:?}: valid case rejected: {m}",
                c.schema, c.message
            ));
        }
        match submit(&ns, &c.invalid.to_string(), true).unwrap() {
            Verdict::Rejected(m) if m.contains(c.message) => {}
            Verdict::Rejected(m) => failures.push(format!(
                "[{}] {:?}: rejected for another reason: {m}",
                c.schema, c.message
            )),
            Verdict::Accepted => failures.push(format!(
                "[{}] {:?}: invalid case accepted",
                c.schema, c.message
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} CEL rule cases: each valid object admitted, each invalid one rejected with its message",
        cases.len()
    );
}
