use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;
use serde_json::Value;

use super::*;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn schema(crd: &CustomResourceDefinition, version: &str) -> Value {
    let v = crd
        .spec
        .versions
        .iter()
        .find(|v| v.name == version)
        .unwrap();
    serde_json::to_value(
        v.schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn checked_in_crds_match_the_generated_ones() {
    let dir = repo_root().join("charts/agentnet/crds");
    for (crd, file) in crds().iter().zip(FILE_NAMES) {
        let path = dir.join(file);
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = to_yaml(crd).unwrap();
        assert!(
            checked_in == generated,
            "{} is out of date; regenerate it with `cargo run -p agentnet-api --bin crdgen`",
            path.display()
        );
    }
}

#[test]
fn xaccesspolicy_stores_v1alpha1_and_serves_both_versions() {
    let crd = xaccesspolicy();
    let versions: Vec<_> = crd
        .spec
        .versions
        .iter()
        .map(|v| (v.name.as_str(), v.served, v.storage))
        .collect();
    assert_eq!(
        versions,
        [("v0alpha0", true, false), ("v1alpha1", true, true)]
    );
    for v in &crd.spec.versions {
        assert!(
            v.subresources.as_ref().unwrap().status.is_some(),
            "{}",
            v.name
        );
    }
}

#[test]
fn xaccesspolicy_is_converted_by_the_agentnet_webhook() {
    let conversion = xaccesspolicy().spec.conversion.unwrap();
    assert_eq!(conversion.strategy, "Webhook");
    let webhook = conversion.webhook.unwrap();
    assert_eq!(webhook.conversion_review_versions, ["v1"]);
    let service = webhook.client_config.unwrap().service.unwrap();
    assert_eq!(
        (
            service.namespace.as_str(),
            service.name.as_str(),
            service.path.as_deref(),
            service.port
        ),
        (
            "agentnet-system",
            "agentnet-webhook",
            Some("/convert"),
            Some(443)
        )
    );
    assert_eq!(xbackend().spec.conversion, None, "XBackend has one version");
}

#[test]
fn every_crd_carries_the_bundle_version_and_short_names() {
    for (crd, short) in crds().iter().zip(["xbe", "xap"]) {
        let annotations = crd.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            annotations[BUNDLE_VERSION_ANNOTATION],
            format!("v{}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&[short.to_owned()][..])
        );
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["agentic".to_owned()][..])
        );
    }
}

#[test]
fn printer_columns_show_action_target_and_acceptance() {
    let crd = xaccesspolicy();
    let v1 = crd
        .spec
        .versions
        .iter()
        .find(|v| v.name == "v1alpha1")
        .unwrap();
    let columns: Vec<_> = v1
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Action", "Kind", "Target", "Accepted", "Age"]);
}

#[test]
fn schemas_have_no_nullable_fields_and_no_null_enum_values() {
    let yaml: String = crds().iter().map(|c| to_yaml(c).unwrap()).collect();
    assert!(!yaml.contains("nullable"));
    assert!(!yaml.contains("- null"));
}

#[test]
fn xbackend_defaults_the_endpoint_paths() {
    let spec = &schema(&xbackend(), "v0alpha0")["properties"]["spec"]["properties"];
    assert_eq!(spec["mcp"]["properties"]["path"]["default"], "/mcp");
    assert_eq!(spec["a2a"]["properties"]["path"]["default"], "/");
}

/// Upstream's CRDs, read at test time (never copied into the repository). CI has them.
fn upstream_crds() -> Option<PathBuf> {
    let dir = std::env::var_os("AGENTNET_UPSTREAM_CRDS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/upstream/crds"));
    dir.is_dir().then_some(dir)
}

/// Schema keywords whose upstream value must be ours too.
const KEYWORDS: [&str; 13] = [
    "type",
    "enum",
    "maxItems",
    "minItems",
    "maxLength",
    "minLength",
    "pattern",
    "minimum",
    "maximum",
    "default",
    "format",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
];

/// Walks upstream's schema and reports every place ours is looser or different:
/// a missing property, keyword, required field or CEL rule (same message, same
/// expression). Being stricter (extra rules, limits, properties) is allowed here;
/// docs/api.md lists each such difference.
fn looser_than(upstream: &Value, ours: &Value, path: &str, out: &mut Vec<String>) {
    for key in KEYWORDS {
        if let Some(u) = upstream.get(key)
            && !same_number_or_value(u, ours.get(key))
        {
            out.push(format!(
                "{path}: {key} is {:?}, upstream {u}",
                ours.get(key)
            ));
        }
    }
    for field in upstream["required"].as_array().into_iter().flatten() {
        let required = ours["required"]
            .as_array()
            .is_some_and(|r| r.contains(field));
        // The A2A extension makes `mcp` optional; the one-of rule still demands it.
        let extension = path == "XBackend v0alpha0.spec" && field == "mcp";
        if !(required || extension) {
            out.push(format!("{path}: {field} is not required"));
        }
    }
    let rules = |schema: &Value| -> Vec<(Value, Value)> {
        let list = schema["x-kubernetes-validations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        list.into_iter()
            .map(|r| (r["message"].clone(), r["rule"].clone()))
            .collect()
    };
    let ours_rules = rules(ours);
    for rule in rules(upstream) {
        if !ours_rules.contains(&rule) {
            out.push(format!("{path}: rule {rule:?} missing"));
        }
    }
    for (name, sub) in upstream["properties"].as_object().into_iter().flatten() {
        match ours["properties"].get(name) {
            Some(o) => looser_than(sub, o, &format!("{path}.{name}"), out),
            None if ["apiVersion", "kind", "metadata"].contains(&name.as_str()) => {}
            None => out.push(format!("{path}.{name}: missing")),
        }
    }
    if let Some(items) = upstream.get("items") {
        looser_than(items, &ours["items"], &format!("{path}[]"), out);
    }
}

fn same_number_or_value(upstream: &Value, ours: Option<&Value>) -> bool {
    match (upstream.as_f64(), ours.and_then(Value::as_f64)) {
        (Some(u), Some(o)) => u == o,
        _ => Some(upstream) == ours,
    }
}

#[test]
fn schemas_keep_every_upstream_field_limit_default_and_rule() {
    let Some(dir) = upstream_crds() else {
        eprintln!("upstream CRDs not found; set AGENTNET_UPSTREAM_CRDS to compare");
        return;
    };
    let pairs = [
        ("agentic.networking.x-k8s.io_xbackends.yaml", xbackend()),
        (
            "agentic.networking.x-k8s.io_xaccesspolicies.yaml",
            xaccesspolicy(),
        ),
    ];
    let mut problems = Vec::new();
    for (file, ours) in pairs {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let upstream: CustomResourceDefinition = serde_yaml::from_str(&text).unwrap();
        assert_eq!(upstream.spec.names.plural, ours.spec.names.plural);
        for version in &upstream.spec.versions {
            let ours_version = ours
                .spec
                .versions
                .iter()
                .find(|v| v.name == version.name)
                .unwrap();
            assert_eq!(
                (ours_version.served, ours_version.storage),
                (version.served, version.storage)
            );
            let path = format!("{} {}", ours.spec.names.kind, version.name);
            looser_than(
                &schema(&upstream, &version.name),
                &schema(&ours, &version.name),
                &path,
                &mut problems,
            );
        }
    }
    assert!(
        problems.is_empty(),
        "looser than upstream:\n{}",
        problems.join("\n")
    );
}
