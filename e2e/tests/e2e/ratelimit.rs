//! RateLimitPolicy (agentnet.dev/v1alpha1) and ExternalAuth references through the
//! real API server and the shared agentnet-webhook's status controller: one ancestor
//! per target with `Accepted`, and `ResolvedRefs` on an ExternalAuth policy whose
//! authorizer is in another namespace without a ReferenceGrant.

use std::time::Duration;

use agentnet_e2e::webhook::shared;
use agentnet_e2e::{TestNs, eventually, output_text};
use anyhow::{Context, anyhow};
use kube::Api;
use kube::api::{ApiResource, DynamicObject};
use serde_json::{Value, json};

const GROUP: &str = "agentic.networking.x-k8s.io";
const CONTROLLER: &str = "agentnet.dev/policy-controller";
const WAIT: Duration = Duration::from_secs(30);

fn api(ns: &TestNs, group: &str, version: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let resource = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(ns.client.clone(), &ns.name, &resource)
}

fn apply(ns: &TestNs, yaml: &str) {
    let out = ns.apply_yaml(yaml).unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
}

/// Our ancestor for `target` once its condition `type_` is there for the current
/// generation.
async fn condition(api: Api<DynamicObject>, name: &str, target: &str, type_: &str) -> Value {
    let what = format!("{name}: {type_} on {target}");
    eventually(&what, WAIT, || {
        let api = api.clone();
        async move {
            let o = api.get(name).await?;
            let found = ancestor_condition(&o, target, type_).context("not written yet")?;
            match found["observedGeneration"] == json!(o.metadata.generation) {
                true => Ok(Some(found)),
                false => Err(anyhow!("status is {}", o.data["status"])),
            }
        }
    })
    .await
    .unwrap()
}

fn ancestor_condition(o: &DynamicObject, target: &str, type_: &str) -> Option<Value> {
    let ancestors = o.data["status"]["ancestors"].as_array()?;
    let ours = ancestors
        .iter()
        .find(|a| a["controllerName"] == CONTROLLER && a["ancestorRef"]["name"] == target)?;
    let conditions = ours["conditions"].as_array()?;
    conditions.iter().find(|c| c["type"] == type_).cloned()
}

const BACKEND: &str = "apiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {name: tools}\nspec: {mcp: {serviceName: tools, port: 8080}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: tools}\nspec: {ports: [{port: 8080}]}\n";

#[tokio::test]
async fn rate_limit_policies_get_an_accepted_ancestor_per_target() {
    shared().await.unwrap();
    let ns = TestNs::new("e2e-ratelimit-status").await.unwrap();
    let policy = format!(
        "---\napiVersion: agentnet.dev/v1alpha1\nkind: RateLimitPolicy\nmetadata: {{name: calls}}\nspec:\n  targetRefs:\n  - {{group: {GROUP}, kind: XBackend, name: tools}}\n  - {{group: {GROUP}, kind: XBackend, name: missing}}\n  limits:\n  - {{name: per-tool, mcp: {{methods: [tools/call]}}, keyBy: [Source, Tool], requests: 10, period: 1m}}\n"
    );
    apply(&ns, &format!("{BACKEND}{policy}"));
    let api = api(
        &ns,
        "agentnet.dev",
        "v1alpha1",
        "RateLimitPolicy",
        "ratelimitpolicies",
    );
    let ok = condition(api.clone(), "calls", "tools", "Accepted").await;
    assert_eq!(
        (&ok["status"], &ok["reason"]),
        (&json!("True"), &json!("Accepted"))
    );
    let missing = condition(api, "calls", "missing", "Accepted").await;
    assert_eq!(
        (&missing["status"], &missing["reason"], &missing["message"]),
        (
            &json!("False"),
            &json!("TargetNotFound"),
            &json!(format!("XBackend {}/missing not found", ns.name))
        )
    );
}

#[tokio::test]
async fn an_external_auth_reference_to_another_namespace_without_a_grant_is_not_resolved() {
    shared().await.unwrap();
    let ns = TestNs::new("e2e-extauth-refs").await.unwrap();
    let policy = format!(
        "---\napiVersion: {GROUP}/v1alpha1\nkind: XAccessPolicy\nmetadata: {{name: guard}}\nspec:\n  targetRefs: [{{group: {GROUP}, kind: XBackend, name: tools}}]\n  action: ExternalAuth\n  externalAuth: {{protocol: GRPC, backendRef: {{name: opa, namespace: security, port: 9191}}, grpc: {{}}}}\n"
    );
    apply(&ns, &format!("{BACKEND}{policy}"));
    let api = api(&ns, GROUP, "v1alpha1", "XAccessPolicy", "xaccesspolicies");
    let refs = condition(api.clone(), "guard", "tools", "ResolvedRefs").await;
    assert_eq!(
        (&refs["status"], &refs["reason"]),
        (&json!("False"), &json!("RefNotPermitted"))
    );
    let message = refs["message"].as_str().unwrap();
    assert!(
        message.contains("no ReferenceGrant in security"),
        "{message}"
    );
    let accepted = condition(api, "guard", "tools", "Accepted").await;
    assert_eq!(
        accepted["status"], "True",
        "accepted, but not enforceable: ResolvedRefs says why"
    );
}
