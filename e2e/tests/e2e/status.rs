//! The policy status controller, running inside the shared local agentnet-webhook,
//! against the real API server: XAccessPolicy ancestors (limits, InvalidCEL, unknown
//! targets, observedGeneration, other controllers' entries) and XBackend conditions.

use std::time::Duration;

use agentnet_e2e::webhook::{LocalWebhook, shared};
use agentnet_e2e::{TestNs, eventually, kubectl, output_text};
use anyhow::{Context, anyhow};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

const GROUP: &str = "agentic.networking.x-k8s.io";
const CONTROLLER: &str = "agentnet.dev/policy-controller";
const WAIT: Duration = Duration::from_secs(30);

async fn status_ns(prefix: &str) -> (TestNs, &'static LocalWebhook) {
    let webhook = shared().await.unwrap();
    (TestNs::new(prefix).await.unwrap(), webhook)
}

fn api(ns: &TestNs, version: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let resource = ApiResource {
        group: GROUP.into(),
        version: version.into(),
        api_version: format!("{GROUP}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(ns.client.clone(), &ns.name, &resource)
}

fn policies(ns: &TestNs) -> Api<DynamicObject> {
    api(ns, "v1alpha1", "XAccessPolicy", "xaccesspolicies")
}

fn backends(ns: &TestNs) -> Api<DynamicObject> {
    api(ns, "v0alpha0", "XBackend", "xbackends")
}

fn apply(ns: &TestNs, yaml: &str) {
    let out = ns.apply_yaml(yaml).unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
}

fn backend_yaml(name: &str) -> String {
    format!(
        "apiVersion: {GROUP}/v0alpha0\nkind: XBackend\nmetadata: {{name: {name}}}\n\
         spec: {{mcp: {{serviceName: {name}, port: 8080}}}}\n"
    )
}

fn service_yaml(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{ports: [{{port: 8080}}]}}\n"
    )
}

/// An XAccessPolicy on XBackend `target`; `spec` adds action, rules, externalAuth.
fn policy_yaml(name: &str, target: &str, spec: &str) -> String {
    format!(
        "apiVersion: {GROUP}/v1alpha1\nkind: XAccessPolicy\nmetadata: {{name: {name}}}\nspec:\n  \
         targetRefs: [{{group: {GROUP}, kind: XBackend, name: {target}}}]\n{spec}"
    )
}

const ALLOW: &str = "  action: Allow\n  rules:\n  - name: planner\n    source: {type: ServiceAccount, serviceAccount: {name: planner}}\n";
const EXTERNAL_AUTH: &str = "  action: ExternalAuth\n  externalAuth:\n    protocol: HTTP\n    backendRef: {name: authz, port: 9000}\n    http: {path: /check}\n";

/// Our ancestor's `Accepted` condition for `target`, once it has `status` and `reason`
/// for the policy's current generation.
async fn accepted(ns: &TestNs, policy: &str, target: &str, status: &str, reason: &str) -> Value {
    let api = policies(ns);
    let what = format!("{policy} Accepted={status} {reason} on {target}");
    eventually(&what, WAIT, || {
        let api = api.clone();
        async move {
            let p = api.get(policy).await?;
            let condition = ours(&p, target).context("no ancestor of ours yet")?;
            let current = condition["observedGeneration"] == json!(p.metadata.generation);
            let matches = condition["status"] == status && condition["reason"] == reason;
            match current && matches {
                true => Ok(Some(condition)),
                false => Err(anyhow!("status is {}", p.data["status"])),
            }
        }
    })
    .await
    .unwrap()
}

fn ours(p: &DynamicObject, target: &str) -> Option<Value> {
    let ancestors = p.data["status"]["ancestors"].as_array()?;
    let ancestor = ancestors
        .iter()
        .find(|a| a["controllerName"] == CONTROLLER && a["ancestorRef"]["name"] == target)?;
    let conditions = ancestor["conditions"].as_array()?;
    conditions.iter().find(|c| c["type"] == "Accepted").cloned()
}

/// The XBackend's condition `type`, once it is `status` for the current generation.
async fn backend_condition(ns: &TestNs, name: &str, type_: &str, status: &str) -> Value {
    let api = backends(ns);
    eventually(&format!("{name} {type_}={status}"), WAIT, || {
        let api = api.clone();
        async move {
            let b = api.get(name).await?;
            let conditions = b.data["status"]["conditions"].as_array().cloned();
            let found = conditions.unwrap_or_default().into_iter().find(|c| {
                c["type"] == type_
                    && c["status"] == status
                    && c["observedGeneration"] == json!(b.metadata.generation)
            });
            found
                .map(Some)
                .ok_or_else(|| anyhow!("status is {}", b.data["status"]))
        }
    })
    .await
    .unwrap()
}

fn delete(ns: &TestNs, what: &str) {
    let out = kubectl(&["delete", "-n", &ns.name, what]).unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
}

#[tokio::test]
async fn sixth_policy_is_over_the_limit_until_an_older_one_is_deleted() {
    let (ns, webhook) = status_ns("e2e-status-limit").await;
    apply(
        &ns,
        &(backend_yaml("tools") + "---\n" + &service_yaml("tools")),
    );
    // Created oldest first with names in the opposite order, 1.1 s apart (timestamps
    // have 1 s resolution): seniority must follow creationTimestamp, not the name.
    let names = [
        "limit-f", "limit-e", "limit-d", "limit-c", "limit-b", "limit-a",
    ];
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        apply(&ns, &policy_yaml(name, "tools", ALLOW));
    }
    let sixth = accepted(&ns, "limit-a", "tools", "False", "LimitPerTargetExceeded").await;
    assert_eq!(
        sixth["message"],
        "Maximum number of AccessPolicies (5) exceeded for target tools"
    );
    for name in &names[..5] {
        let c = accepted(&ns, name, "tools", "True", "Accepted").await;
        assert_eq!(c["observedGeneration"], 1);
    }
    let p = policies(&ns).get("limit-a").await.unwrap();
    let ancestor = &p.data["status"]["ancestors"][0];
    let expected =
        json!({"group": GROUP, "kind": "XBackend", "namespace": ns.name, "name": "tools"});
    assert_eq!(ancestor["ancestorRef"], expected);

    // Upstream never re-evaluates; we recompile everything on each change.
    delete(&ns, "xaccesspolicy/limit-f");
    accepted(&ns, "limit-a", "tools", "True", "Accepted").await;
    assert_metrics(webhook);
}

fn assert_metrics(webhook: &LocalWebhook) {
    let (code, text) = webhook.admin_get("/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(text.contains("agentnet_webhook_status_leader 1"), "{text}");
    let written = r#"agentnet_webhook_status_writes_total{kind="XAccessPolicy",result="written"}"#;
    assert!(text.contains(written), "{text}");
    let generation = text
        .lines()
        .find_map(|l| l.strip_prefix("agentnet_webhook_policy_compile_generation "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(generation.is_some_and(|g| g > 0), "{text}");
}

#[tokio::test]
async fn second_external_auth_policy_on_a_target_is_over_the_limit() {
    let (ns, _) = status_ns("e2e-status-extauth").await;
    apply(
        &ns,
        &(backend_yaml("tools") + "---\n" + &service_yaml("tools")),
    );
    apply(&ns, &policy_yaml("authz-b", "tools", EXTERNAL_AUTH));
    tokio::time::sleep(Duration::from_millis(1100)).await; // a later creationTimestamp
    apply(&ns, &policy_yaml("authz-a", "tools", EXTERNAL_AUTH));
    accepted(&ns, "authz-b", "tools", "True", "Accepted").await;
    let second = accepted(&ns, "authz-a", "tools", "False", "LimitPerTargetExceeded").await;
    assert_eq!(
        second["message"],
        "An older ExternalAuth AccessPolicy already exists for target tools"
    );
}

#[tokio::test]
async fn broken_cel_and_unknown_targets_are_reported() {
    let (ns, _) = status_ns("e2e-status-invalid").await;
    apply(&ns, &backend_yaml("tools"));
    let cel = "  action: Allow\n  rules:\n  - name: broken\n    authorization:\n      \
               type: CEL\n      cel: {expression: 'request.mcp.tool_name == '}\n";
    apply(&ns, &policy_yaml("broken-cel", "tools", cel));
    apply(&ns, &policy_yaml("nowhere", "missing", ALLOW));
    let c = accepted(&ns, "broken-cel", "tools", "False", "InvalidCEL").await;
    let message = c["message"].as_str().unwrap();
    let prefix = "Failed to compile CEL expression \"request.mcp.tool_name == \": ";
    assert!(
        message.starts_with(prefix) && message.len() > prefix.len(),
        "{message}"
    );
    let c = accepted(&ns, "nowhere", "missing", "False", "TargetNotFound").await;
    assert_eq!(
        c["message"],
        format!("XBackend {}/missing not found", ns.name)
    );
}

#[tokio::test]
async fn observed_generation_follows_edits_and_other_controllers_entries_survive() {
    let (ns, _) = status_ns("e2e-status-generation").await;
    apply(&ns, &backend_yaml("tools"));
    apply(&ns, &policy_yaml("edited", "tools", ALLOW));
    let first = accepted(&ns, "edited", "tools", "True", "Accepted").await;
    assert_eq!(first["observedGeneration"], 1);

    // Another controller adds its own ancestor next to ours.
    let theirs = add_foreign_ancestor(&ns, "edited").await;

    let edit = r#"{"spec":{"rules":[{"name":"planner","source":{"type":"ServiceAccount","serviceAccount":{"name":"planner"}}},{"name":"any"}]}}"#;
    let out = kubectl(&[
        "patch",
        "-n",
        &ns.name,
        "xaccesspolicy/edited",
        "--type=merge",
        "-p",
        edit,
    ])
    .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let second = accepted(&ns, "edited", "tools", "True", "Accepted").await;
    assert_eq!(second["observedGeneration"], 2);
    assert_eq!(
        second["lastTransitionTime"], first["lastTransitionTime"],
        "still accepted: no transition"
    );
    let p = policies(&ns).get("edited").await.unwrap();
    let ancestors = p.data["status"]["ancestors"].as_array().unwrap();
    assert!(ancestors.contains(&theirs), "{ancestors:?}");
    assert_eq!(ancestors.len(), 2);
}

/// Appends another controller's ancestor to the policy's status, as that controller
/// would (a merge patch of the whole, atomic list); returns the entry.
async fn add_foreign_ancestor(ns: &TestNs, policy: &str) -> Value {
    let api = policies(ns);
    let p = api.get(policy).await.unwrap();
    let mut ancestors = p.data["status"]["ancestors"].as_array().cloned().unwrap();
    let theirs = json!({
        "ancestorRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"},
        "controllerName": "example.com/gateway-controller",
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
            "message": "theirs", "observedGeneration": 1,
            "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    ancestors.push(theirs.clone());
    let pp = PatchParams {
        field_manager: Some("example-gateway-controller".into()),
        ..PatchParams::default()
    };
    let patch = Patch::Merge(json!({"status": {"ancestors": ancestors}}));
    api.patch_status(policy, &pp, &patch).await.unwrap();
    theirs
}

#[tokio::test]
async fn backend_resolved_refs_follows_its_service_and_unchanged_status_is_not_rewritten() {
    let (ns, _) = status_ns("e2e-status-backend").await;
    apply(&ns, &backend_yaml("tools"));
    backend_condition(&ns, "tools", "Accepted", "True").await;
    let missing = backend_condition(&ns, "tools", "ResolvedRefs", "False").await;
    assert_eq!(missing["reason"], "BackendNotFound");
    assert_eq!(
        missing["message"],
        format!("Service {}/tools not found", ns.name)
    );

    apply(&ns, &service_yaml("tools"));
    let resolved = backend_condition(&ns, "tools", "ResolvedRefs", "True").await;
    assert_eq!(resolved["reason"], "ResolvedRefs");
    let version = backends(&ns)
        .get("tools")
        .await
        .unwrap()
        .metadata
        .resource_version;

    // Another change makes the controller compile and check everything again; the
    // status of "tools" is unchanged, so it is not written again.
    apply(&ns, &backend_yaml("later"));
    backend_condition(&ns, "later", "ResolvedRefs", "False").await;
    let after = backends(&ns)
        .get("tools")
        .await
        .unwrap()
        .metadata
        .resource_version;
    assert_eq!(after, version, "no write when nothing changed");
}

#[tokio::test]
async fn the_running_webhook_holds_the_status_lease() {
    let webhook = shared().await.unwrap();
    let client = agentnet_e2e::client().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(client, &webhook.namespace);
    let lease = format!("{}-status", webhook.release);
    let holder = eventually("the status Lease to have a holder", WAIT, || {
        let leases = leases.clone();
        let lease = lease.clone();
        async move {
            let l = leases.get(&lease).await?;
            Ok(l.spec.and_then(|s| s.holder_identity))
        }
    })
    .await
    .unwrap();
    assert_eq!(holder, "agentnet-webhook-e2e-local");
}
