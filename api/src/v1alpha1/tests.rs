use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;

#[test]
fn omitted_fields_take_upstream_defaults() {
    let rule: AuthorizationRule = serde_json::from_value(json!({
        "type": "Inline",
        "paths": [{"value": "/mcp"}],
        "headers": [{"name": "x-team", "value": "a"}],
        "mcp": {"methods": [{"name": "tools/call"}]},
    }))
    .unwrap();
    assert_eq!(rule.paths.unwrap()[0].type_, PathMatchType::PathPrefix);
    assert_eq!(rule.headers.unwrap()[0].type_, HeaderMatchType::Exact);
    assert_eq!(
        rule.mcp.base_protocol_methods,
        BaseProtocolMethodsOption::Skip
    );
    assert_eq!(rule.cel, None);
}

#[test]
fn a_full_spec_round_trips_through_json() {
    let value = json!({
        "targetRefs": [{"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "b",
                        "sectionName": "s"}],
        "action": "ExternalAuth",
        "externalAuth": {"protocol": "HTTP", "backendRef": {"name": "authz", "port": 8080},
                         "http": {"path": "/check", "allowedHeaders": ["x-a"]},
                         "forwardBody": {"maxSize": 1024}},
        "rules": [{
            "name": "r",
            "source": {"type": "SPIFFE", "spiffe": "spiffe://example.org/agent"},
            "authorization": {
                "type": "Inline",
                "methods": ["POST"],
                "paths": [{"type": "Exact", "value": "/mcp"}],
                "headers": [{"type": "RegularExpression", "name": "x-a", "value": "^b$"}],
                "hosts": ["*.example.org"],
                "ports": [443],
                "mcp": {"methods": [{"name": "tools/call", "params": ["get-sum"]}],
                        "mcpBaseProtocolMethodsOption": "MATCH_BASE_PROTOCOL_METHODS"},
                "a2a": {"methods": ["SendMessage", "message/send"], "skills": ["summarize"]},
            },
        }],
    });
    let spec: XAccessPolicySpec = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(spec.action, PolicyAction::ExternalAuth);
    assert_eq!(serde_json::to_value(&spec).unwrap(), value);
}

#[test]
fn an_mcp_block_that_says_nothing_is_not_serialized() {
    let rule = AuthorizationRule {
        type_: AuthorizationType::Cel,
        ..AuthorizationRule::default()
    };
    assert_eq!(serde_json::to_value(&rule).unwrap(), json!({"type": "CEL"}));
}

#[test]
fn unknown_enum_values_do_not_parse() {
    let spec = json!({"targetRefs": [], "action": "Deny"});
    assert!(serde_json::from_value::<XAccessPolicySpec>(spec).is_err());
    let source = json!({"type": "OIDC"});
    assert!(serde_json::from_value::<AccessRuleSource>(source).is_err());
    let rule = json!({"type": "Inline", "methods": ["FETCH"]});
    assert!(serde_json::from_value::<AuthorizationRule>(rule).is_err());
}
