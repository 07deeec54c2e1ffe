//! Validation vocabulary shared by the CRD types: the patterns Kubernetes and the
//! Gateway API use for names, and the post-processing that makes kube's generated
//! schemas match upstream's.

use serde_json::Value;

/// RFC 1123 subdomain: rule names, ServiceAccount names, section names.
pub(crate) const DNS_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// RFC 1123 label: namespaces.
pub(crate) const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// RFC 1035 label: Service names (they must start with a letter).
pub(crate) const SERVICE_NAME: &str = r"^[a-z]([-a-z0-9]*[a-z0-9])?$";
/// A DNS name or IPv4 address without scheme, port or path, any letter case.
pub(crate) const BACKEND_HOSTNAME: &str =
    r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$";
/// An absolute URL path without query or fragment.
pub(crate) const URL_PATH: &str = r"^/[^?#\s]*$";
/// Gateway API `Group`: empty (core) or a DNS subdomain.
pub(crate) const GROUP: &str =
    r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// Gateway API `Kind`.
pub(crate) const KIND: &str = r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$";
/// Gateway API `Hostname`: a DNS name, optionally with a leading `*.` wildcard.
pub(crate) const HOSTNAME: &str =
    r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// Gateway API `HTTPHeaderName` (RFC 7230 token).
pub(crate) const HEADER_NAME: &str = r"^[A-Za-z0-9!#$%&'*+\-.^_\x60|~]+$";
/// Gateway API path segment characters, for `HTTPAuthConfig.path`.
pub(crate) const AUTH_PATH: &str = r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$";
/// Gateway API `GatewayController`: `<domain>/<path>`.
pub(crate) const CONTROLLER_NAME: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$";
/// SPIFFE ID as upstream accepts it.
pub(crate) const SPIFFE_ID: &str = r"^spiffe://[a-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$";
/// An A2A method in either generation: `SendMessage`, `message/send`, `tasks/get`.
pub(crate) const A2A_METHOD: &str = r"^[A-Za-z][A-Za-z0-9]*(/[A-Za-z][A-Za-z0-9]*)*$";

/// The MCP method names and categories an Inline rule may list (upstream's enum).
pub(crate) const MCP_METHOD_NAMES: [&str; 12] = [
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
    "resources/unsubscribe",
    "resources/read",
];

/// Makes a kube-generated schema match the shape upstream's controller-gen emits.
///
/// kube marks every `Option` field `nullable: true`. Upstream never does, and the
/// difference is observable: the API server prunes an explicit `null` from a
/// non-nullable field but keeps it in a nullable one, where CEL's `has()` then sees
/// it (`{serviceName: a, hostname: null}` would fail "exactly one of"). So every
/// `nullable` is removed, and a `null` is dropped exactly as upstream drops it.
pub(crate) fn strip_nullable(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            map.remove("nullable");
            // kube lists `null` among the values of an optional enum.
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|v| !v.is_null());
            }
            map.values_mut().for_each(strip_nullable);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nullable),
        _ => {}
    }
}

/// Drops a `default` that schemars derives from `#[serde(default)]` where upstream
/// has none (an absent object stays absent instead of being filled in).
pub(crate) fn no_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// Container transform: `status.ancestors` is required, as upstream has it. The Rust
/// field keeps a serde default so that a status written before it existed still reads.
pub(crate) fn require_ancestors(schema: &mut schemars::Schema) {
    require(schema, "ancestors");
}

/// Container transform: `ancestors[].conditions` is required, as upstream has it.
pub(crate) fn require_conditions(schema: &mut schemars::Schema) {
    require(schema, "conditions");
}

fn require(schema: &mut schemars::Schema, field: &str) {
    if let Some(Value::Object(props)) = schema.get_mut("properties")
        && let Some(Value::Object(prop)) = props.get_mut(field)
    {
        prop.remove("default");
    }
    if let Value::Array(required) = schema
        .ensure_object()
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        required.push(field.into());
    }
}

/// `metav1.Condition` with the limits its Go markers give it (k8s-openapi's schema
/// has only the types), as a list keyed by `type`.
pub(crate) fn conditions(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    conditions_list(None)
}

/// `PolicyAncestorStatus.conditions`: 1 to 8 conditions.
pub(crate) fn ancestor_conditions(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    conditions_list(Some((1, 8)))
}

fn conditions_list(items: Option<(u32, u32)>) -> schemars::Schema {
    let mut schema = schemars::json_schema!({
        "type": "array",
        "items": condition(),
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    });
    if let Some((min, max)) = items {
        schema.insert("minItems".into(), min.into());
        schema.insert("maxItems".into(), max.into());
    }
    schema
}

fn condition() -> Value {
    serde_json::json!({
        "type": "object",
        "required": ["lastTransitionTime", "message", "reason", "status", "type"],
        "properties": {
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "message": {"type": "string", "maxLength": 32768},
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
            "reason": {
                "type": "string", "minLength": 1, "maxLength": 1024,
                "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
            },
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "type": {
                "type": "string", "maxLength": 316,
                "pattern": CONDITION_TYPE,
            },
        },
    })
}

/// `metav1.Condition.type`: an optional DNS-subdomain prefix and a name.
const CONDITION_TYPE: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$";

/// `maxSize` is a `uint16` in the Gateway API; controller-gen emits a bare integer,
/// which lets values Go cannot decode through. Ours states the range instead.
pub(crate) fn uint16(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "integer", "minimum": 0, "maximum": 65535 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strip_nullable_removes_every_nullable_key() {
        let mut v = json!({"nullable": true, "properties": {"a": {"nullable": true, "type": "string"}},
                           "items": [{"nullable": true}]});
        strip_nullable(&mut v);
        assert_eq!(
            v,
            json!({"properties": {"a": {"type": "string"}}, "items": [{}]})
        );
    }

    #[test]
    fn patterns_compile_as_regular_expressions() {
        // The API server compiles these with Go's RE2; the `regex` crate accepts the
        // same syntax for everything used here (including `\x60`), so a typo fails here.
        for p in [
            DNS_SUBDOMAIN,
            DNS_LABEL,
            SERVICE_NAME,
            BACKEND_HOSTNAME,
            URL_PATH,
            GROUP,
            KIND,
            HOSTNAME,
            HEADER_NAME,
            AUTH_PATH,
            CONTROLLER_NAME,
            SPIFFE_ID,
            A2A_METHOD,
            CONDITION_TYPE,
        ] {
            assert!(regex::Regex::new(p).is_ok(), "{p}");
        }
    }
}
