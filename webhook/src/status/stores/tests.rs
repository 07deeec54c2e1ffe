use kube::runtime::reflector::store::Writer;
use serde_json::{Value, json};

use super::*;

fn fill<K>(objects: &[Value]) -> Store<DeserializeGuard<K>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + 'static,
{
    let mut writer: Writer<DeserializeGuard<K>> = Writer::default();
    for o in objects {
        let guard: DeserializeGuard<K> = serde_json::from_value(o.clone()).unwrap();
        writer.apply_watcher_event(&watcher::Event::Apply(guard));
    }
    writer.as_reader()
}

fn meta(kind: &str, api_version: &str, name: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind,
        "metadata": {"name": name, "namespace": "team", "resourceVersion": "7",
            "managedFields": [{"manager": "kubectl"}]}})
}

fn backend(name: &str, service: Value, port: Value) -> Value {
    let mut b = meta("XBackend", "agentic.networking.x-k8s.io/v0alpha0", name);
    b["spec"] = json!({"mcp": {"serviceName": service, "port": port}});
    b
}

fn slice(name: &str, service: &str) -> Value {
    let mut s = meta("EndpointSlice", "discovery.k8s.io/v1", name);
    s["metadata"]["labels"] = json!({"kubernetes.io/service-name": service});
    s["addressType"] = json!("IPv4");
    s["endpoints"] =
        json!([{"addresses": ["10.244.0.9"], "targetRef": {"kind": "Pod", "name": "p-1"}}]);
    s
}

fn stores() -> Stores {
    let mut policy = meta("XAccessPolicy", "agentic.networking.x-k8s.io/v1alpha1", "p");
    policy["spec"] = json!({"action": "Allow", "targetRefs": [
        {"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "tools"}]});
    let mut broken_policy = policy.clone();
    broken_policy["metadata"]["name"] = json!("broken");
    broken_policy["spec"]["action"] = json!(["not", "an", "action"]);
    let service = |name: &str| meta("Service", "v1", name);
    Stores {
        backends: fill(&[
            backend("tools", json!("tools"), json!(8080)),
            backend("broken", json!("other"), json!("eighty")),
        ]),
        policies: fill(&[policy, broken_policy]),
        services: fill(&[service("tools"), service("other"), service("unrelated")]),
        slices: fill(&[
            slice("tools-abc", "tools"),
            slice("unrelated-abc", "unrelated"),
        ]),
        rate_limits: fill(&[]),
        grants: fill(&[]),
        progress: fill(&[]),
        progress_changed: tokio::sync::watch::channel(0).1,
    }
}

#[test]
fn snapshot_skips_malformed_objects_and_services_no_backend_names() {
    let snapshot = stores().snapshot();
    let names = |metas: Vec<&ObjectMeta>| -> Vec<String> {
        metas.iter().filter_map(|m| m.name.clone()).collect()
    };
    assert_eq!(
        names(snapshot.backends.iter().map(|b| &b.metadata).collect()),
        ["tools"]
    );
    assert_eq!(
        names(snapshot.policies.iter().map(|p| &p.metadata).collect()),
        ["p"]
    );
    // "other" is named only by the malformed backend.
    assert_eq!(
        names(snapshot.services.iter().map(|s| &s.metadata).collect()),
        ["tools"]
    );
    assert!(snapshot.endpoint_slices.is_empty());
}

#[test]
fn distribution_snapshot_adds_only_the_slices_of_named_services() {
    let snapshot = stores().distribution_snapshot();
    let slices: Vec<_> = snapshot
        .endpoint_slices
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    assert_eq!(slices, ["tools-abc"]);
}

#[test]
fn lookups_find_valid_objects_by_namespace_and_name() {
    let stores = stores();
    assert!(stores.policy("team", "p").is_some());
    assert!(stores.policy("team", "broken").is_none(), "malformed");
    assert!(stores.policy("other", "p").is_none());
    assert!(stores.backend("team", "tools").is_some());
}

#[test]
fn strip_drops_managed_fields_and_the_last_applied_copy() {
    let mut meta = ObjectMeta {
        managed_fields: Some(Vec::new()),
        annotations: Some(
            [
                (LAST_APPLIED.to_owned(), "{}".to_owned()),
                ("keep".to_owned(), "1".to_owned()),
            ]
            .into(),
        ),
        ..ObjectMeta::default()
    };
    strip(&mut meta);
    assert_eq!(meta.managed_fields, None);
    let keys: Vec<_> = meta.annotations.unwrap().into_keys().collect();
    assert_eq!(keys, ["keep"]);
}
