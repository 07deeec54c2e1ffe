use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;

#[test]
fn endpoint_paths_default_per_protocol() {
    let spec: XBackendSpec =
        serde_json::from_value(json!({"mcp": {"serviceName": "s", "port": 80}})).unwrap();
    assert_eq!(spec.mcp.unwrap().path, "/mcp");
    let spec: XBackendSpec =
        serde_json::from_value(json!({"a2a": {"hostname": "agent.example.org", "port": 443}}))
            .unwrap();
    assert_eq!(spec.a2a.unwrap().path, "/");
    assert_eq!(McpBackend::default().path, "/mcp");
    assert_eq!(A2aBackend::default().path, "/");
}

#[test]
fn an_upstream_backend_round_trips_with_only_the_default_added() {
    let value = json!({"mcp": {"hostname": "mcp.deepwiki.com", "port": 443}});
    let spec: XBackendSpec = serde_json::from_value(value).unwrap();
    assert_eq!(
        serde_json::to_value(&spec).unwrap(),
        json!({"mcp": {"hostname": "mcp.deepwiki.com", "port": 443, "path": "/mcp"}})
    );
}

#[test]
fn a_legacy_rule_requires_a_typed_source() {
    let rule = json!({"name": "r", "source": {"serviceAccount": {"name": "a"}}});
    assert!(serde_json::from_value::<AccessRule>(rule).is_err());
    let rule = json!({"name": "r", "source": {"type": "ServiceAccount", "serviceAccount": {"name": "a"}},
                      "authorization": {"type": "CEL", "cel": {"expression": "true", "message": "m"}}});
    let rule: AccessRule = serde_json::from_value(rule).unwrap();
    assert_eq!(
        rule.authorization.unwrap().cel.unwrap().message.as_deref(),
        Some("m")
    );
}
