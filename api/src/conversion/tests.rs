use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::*;
use crate::v0alpha0 as v0;
use crate::v1alpha1 as v1;

const V0: &str = "agentic.networking.x-k8s.io/v0alpha0";
const V1: &str = "agentic.networking.x-k8s.io/v1alpha1";

fn v0_spec(rules: Value) -> v0::XAccessPolicySpec {
    serde_json::from_value(json!({
        "targetRefs": [{"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "b"}],
        "rules": rules,
    }))
    .unwrap()
}

fn v1_spec(spec: Value) -> v1::XAccessPolicySpec {
    let mut base = json!({
        "targetRefs": [{"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "b"}],
        "action": "Allow",
    });
    base.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    serde_json::from_value(base).unwrap()
}

fn object(api_version: &str, spec: Value) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "XAccessPolicy",
        "metadata": {"name": "p", "namespace": "ns", "uid": "1234", "labels": {"team": "a"}},
        "spec": spec,
        "status": {"ancestors": []},
    })
}

const SA: &str = r#"{"type": "ServiceAccount", "serviceAccount": {"name": "agent"}}"#;

fn sa() -> Value {
    serde_json::from_str(SA).unwrap()
}

#[test]
fn inline_tools_become_tools_call_params_that_also_admit_the_base_protocol() {
    let old = v0_spec(json!([{"name": "r", "source": sa(),
        "authorization": {"type": "InlineTools", "tools": ["get-sum", "echo"]}}]));
    let new = to_v1alpha1(&old).unwrap();
    assert_eq!(
        new,
        v1_spec(
            json!({"rules": [{"name": "r", "source": sa(), "authorization": {
        "type": "Inline",
        "mcp": {"methods": [{"name": "tools/call", "params": ["get-sum", "echo"]}],
                "mcpBaseProtocolMethodsOption": "MATCH_BASE_PROTOCOL_METHODS"}}}]})
        )
    );
    assert_eq!(to_v0alpha0(&new).unwrap(), old);
}

#[test]
fn an_external_auth_rule_becomes_the_policy_action() {
    let ext =
        json!({"protocol": "GRPC", "backendRef": {"name": "authz", "port": 5000}, "grpc": {}});
    let old = v0_spec(json!([{"name": "r", "source": sa(),
        "authorization": {"type": "ExternalAuth", "externalAuth": ext}}]));
    let new = to_v1alpha1(&old).unwrap();
    assert_eq!(
        new,
        v1_spec(json!({"action": "ExternalAuth", "externalAuth": ext,
        "rules": [{"name": "r", "source": sa()}]}))
    );
    assert_eq!(to_v0alpha0(&new).unwrap(), old);
}

#[test]
fn an_external_auth_rule_next_to_other_rules_is_refused() {
    let old = v0_spec(json!([
        {"name": "a", "source": sa(), "authorization": {"type": "ExternalAuth",
            "externalAuth": {"protocol": "HTTP", "backendRef": {"name": "x", "port": 1}, "http": {}}}},
        {"name": "b", "source": sa()},
    ]));
    let err = to_v1alpha1(&old).unwrap_err().to_string();
    assert!(err.contains("one action per policy"), "{err}");
}

#[test]
fn inline_tools_without_tools_is_refused_rather_than_widened() {
    for tools in [json!(null), json!([])] {
        let old = v0_spec(json!([{"name": "r", "source": sa(),
            "authorization": {"type": "InlineTools", "tools": tools}}]));
        let err = to_v1alpha1(&old).unwrap_err().to_string();
        assert!(err.contains("tools must be specified"), "{err}");
    }
}

#[test]
fn the_cel_message_is_dropped_by_the_spec_conversion() {
    let old = v0_spec(
        json!([{"name": "r", "source": sa(), "authorization": {"type": "CEL",
        "cel": {"expression": "request.mcp.tool_name == 'x'", "message": "only x"}}}]),
    );
    let new = to_v1alpha1(&old).unwrap();
    assert_eq!(
        new,
        v1_spec(
            json!({"rules": [{"name": "r", "source": sa(), "authorization": {
        "type": "CEL", "cel": {"expression": "request.mcp.tool_name == 'x'"}}}]})
        )
    );
}

#[test]
fn v1alpha1_content_without_a_v0alpha0_form_is_named_in_the_error() {
    let cases = [
        (json!({"rules": [{"name": "r"}]}), "without source"),
        (json!({}), "without rules"),
        (
            json!({"rules": [{"name": "r", "source": sa(), "authorization": {"type": "Inline",
            "methods": ["GET"]}}]}),
            "HTTP matchers",
        ),
        (
            json!({"rules": [{"name": "r", "source": sa(), "authorization": {"type": "Inline",
            "mcp": {"methods": [{"name": "tools/call", "params": ["x"]}]}}}]}),
            "MATCH_BASE",
        ),
        (
            json!({"rules": [{"name": "r", "source": sa(), "authorization": {"type": "Inline",
            "mcp": {"methods": [{"name": "prompts/get", "params": ["x"]}],
                    "mcpBaseProtocolMethodsOption": "MATCH_BASE_PROTOCOL_METHODS"}}}]}),
            "only tools/call",
        ),
        (
            json!({"rules": [{"name": "r", "source": sa(), "authorization": {"type": "Inline",
            "a2a": {"skills": ["s"]}}}]}),
            "A2A",
        ),
        (
            json!({"action": "ExternalAuth", "externalAuth": {"protocol": "HTTP",
            "backendRef": {"name": "x", "port": 1}, "http": {}}}),
            "exactly one rule",
        ),
    ];
    for (spec, reason) in cases {
        let err = to_v0alpha0(&v1_spec(spec.clone())).unwrap_err().to_string();
        assert!(err.contains(reason), "{spec}: {err}");
    }
}

#[test]
fn the_view_replaces_only_what_v0alpha0_cannot_say_with_rules_that_admit_nothing() {
    let spec = v1_spec(json!({"rules": [
        {"name": "kept", "source": sa()},
        {"name": "anyone"},
    ]}));
    let view = to_v0alpha0_view(&spec);
    assert_eq!(
        view.rules[0],
        v0_spec(json!([{"name": "kept", "source": sa()}])).rules[0]
    );
    let placeholder = view.rules[1].authorization.as_ref().unwrap();
    assert_eq!(placeholder.type_, v0::AuthorizationType::Cel);
    let cel = placeholder.cel.as_ref().unwrap();
    assert_eq!(cel.expression, "false");
    assert!(
        cel.message
            .as_deref()
            .unwrap()
            .starts_with(PLACEHOLDER_PREFIX)
    );
    let err = to_v1alpha1(&view).unwrap_err();
    assert!(matches!(err, ConversionError::Placeholder { .. }), "{err}");
}

#[test]
fn converting_an_object_keeps_metadata_and_status_and_sets_the_api_version() {
    let v1 = object(
        V1,
        json!({"targetRefs": [{"group": "g", "kind": "XBackend", "name": "b"}],
        "action": "Allow", "rules": [{"name": "r", "source": sa()}]}),
    );
    let v0 = convert_object(v1.clone(), V0).unwrap();
    assert_eq!(v0["apiVersion"], V0);
    assert_eq!(
        v0["metadata"], v1["metadata"],
        "nothing to stash: the spec converts exactly"
    );
    assert_eq!(v0["status"], v1["status"]);
    assert_eq!(v0["spec"]["rules"], json!([{"name": "r", "source": sa()}]));
    assert_eq!(convert_object(v0, V1).unwrap(), v1);
}

#[test]
fn an_object_already_at_the_desired_version_is_returned_unchanged() {
    let v1 = object(V1, json!({"anything": "goes", "rules": 7}));
    assert_eq!(convert_object(v1.clone(), V1).unwrap(), v1);
}

#[test]
fn a_v1alpha1_only_policy_survives_a_round_trip_through_v0alpha0() {
    let spec = json!({"targetRefs": [{"group": "g", "kind": "XBackend", "name": "b"}],
        "action": "Allow", "rules": [{"name": "r", "authorization": {"type": "Inline",
            "paths": [{"type": "Exact", "value": "/mcp"}]}}]});
    let v0 = convert_object(object(V1, spec.clone()), V0).unwrap();
    let stashed = v0["metadata"]["annotations"][V1ALPHA1_SPEC_ANNOTATION]
        .as_str()
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(stashed).unwrap(), spec);
    let back = convert_object(v0, V1).unwrap();
    assert_eq!(back, object(V1, spec), "annotation consumed, spec restored");
}

#[test]
fn a_cel_message_survives_a_round_trip_through_v1alpha1() {
    let spec = json!({"targetRefs": [{"group": "g", "kind": "XBackend", "name": "b"}],
        "rules": [{"name": "r", "source": sa(), "authorization": {"type": "CEL",
            "cel": {"expression": "true", "message": "why"}}}]});
    let v1 = convert_object(object(V0, spec.clone()), V1).unwrap();
    assert!(v1["metadata"]["annotations"][V0ALPHA0_SPEC_ANNOTATION].is_string());
    assert_eq!(convert_object(v1, V0).unwrap(), object(V0, spec));
}

#[test]
fn an_edit_through_the_v0alpha0_view_that_keeps_a_placeholder_is_refused() {
    let spec = json!({"targetRefs": [{"group": "g", "kind": "XBackend", "name": "b"}],
        "action": "Allow", "rules": [{"name": "anyone"}, {"name": "agent", "source": sa()}]});
    let mut v0 = convert_object(object(V1, spec), V0).unwrap();
    v0["spec"]["rules"][1]["source"]["serviceAccount"]["name"] = json!("other");
    let err = convert_object(v0, V1).unwrap_err().to_string();
    assert!(
        err.contains("edit this XAccessPolicy as agentic.networking.x-k8s.io/v1alpha1"),
        "{err}"
    );
}

#[test]
fn a_stale_stash_is_dropped_when_the_v0alpha0_edit_removed_the_placeholders() {
    let spec = json!({"targetRefs": [{"group": "g", "kind": "XBackend", "name": "b"}],
        "action": "Allow", "rules": [{"name": "anyone"}]});
    let mut v0 = convert_object(object(V1, spec), V0).unwrap();
    v0["spec"]["rules"] = json!([{"name": "agent", "source": sa()}]);
    let v1 = convert_object(v0, V1).unwrap();
    assert_eq!(
        v1["spec"]["rules"],
        json!([{"name": "agent", "source": sa()}])
    );
    assert_eq!(v1["metadata"].get("annotations"), None);
}

#[test]
fn a_malformed_stash_is_ignored() {
    let mut v0 = object(
        V0,
        json!({"targetRefs": [], "rules": [{"name": "r", "source": sa()}]}),
    );
    v0["metadata"]["annotations"] = json!({V1ALPHA1_SPEC_ANNOTATION: "{not json", "keep": "me"});
    let v1 = convert_object(v0, V1).unwrap();
    assert_eq!(v1["metadata"]["annotations"], json!({"keep": "me"}));
    assert_eq!(v1["spec"]["rules"], json!([{"name": "r", "source": sa()}]));
}

#[test]
fn other_kinds_versions_and_shapes_are_errors() {
    let mut backend = object(V0, json!({}));
    backend["kind"] = json!("XBackend");
    assert!(matches!(
        convert_object(backend, V1),
        Err(ConversionError::UnsupportedKind(_))
    ));
    let policy = object(V0, json!({}));
    assert!(matches!(
        convert_object(policy.clone(), "agentic.networking.x-k8s.io/v2"),
        Err(ConversionError::UnsupportedVersion(_))
    ));
    assert!(matches!(
        convert_object(policy, V1),
        Err(ConversionError::Malformed { .. })
    ));
    assert!(matches!(
        convert_object(json!({"kind": "XAccessPolicy"}), V1),
        Err(ConversionError::Missing("apiVersion"))
    ));
    assert!(matches!(
        convert_object(json!("text"), V1),
        Err(ConversionError::Missing(_))
    ));
}
