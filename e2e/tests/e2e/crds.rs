//! The CRDs on a real API server: they install and become Established; the project's
//! and upstream's example manifests are accepted or rejected as documented; every CEL
//! rule has an accepted and a rejected case; the boundaries hold; the server applies
//! the defaults and printer columns.
//!
//! Objects go through `kubectl create`, so the messages asserted are the ones users
//! see, with kubectl's default strict field validation.
//!
//! v0alpha0 XAccessPolicies: the CRD stores v1alpha1 and converts with agentnet-webhook
//! (`strategy: Webhook`). The API server validates a v0alpha0 object against the
//! v0alpha0 schema *before* it calls the conversion webhook, so an invalid object is
//! rejected with its validation message whether or not the webhook runs, and a valid
//! one fails only at the conversion call when agentnet-webhook is not running here.
//! `submit` counts that last failure as accepted (see `v0alpha0_is_validated_before_conversion`).

mod boundaries;
mod examples;
mod rules;

use agentnet_e2e::crds::{XACCESSPOLICIES, XBACKENDS, chart_crds, install_crds, is_established};
use agentnet_e2e::{TestNs, client, kubectl, kubectl_stdin, output_text};
use anyhow::{Context, Result};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use serde::Deserialize;
use serde_json::{Value, json};

const V0: &str = "agentic.networking.x-k8s.io/v0alpha0";
const V1: &str = "agentic.networking.x-k8s.io/v1alpha1";

/// The API server's error when it validated a v0alpha0 XAccessPolicy and then could not
/// reach the conversion webhook to store it (followed by the failed `Post "https://…`;
/// a webhook that answers with a failure is reported as "returned failure" instead).
const CONVERSION_UNAVAILABLE: &str =
    "conversion webhook for agentic.networking.x-k8s.io/v0alpha0, Kind=XAccessPolicy failed";

/// What the API server made of a submitted manifest.
#[derive(Debug, PartialEq)]
enum Verdict {
    Accepted,
    Rejected(String),
}

/// Creates every document of `manifest` (YAML or JSON) in `ns` with `kubectl create`
/// (`--dry-run=server` when asked). A document's own namespace is replaced by `ns`.
fn submit(ns: &TestNs, manifest: &str, dry_run: bool) -> Result<Verdict> {
    let docs = into_namespace(manifest)?;
    let mut args = vec!["create", "-n", ns.name.as_str(), "-f", "-"];
    if dry_run {
        args.push("--dry-run=server");
    }
    let out = kubectl_stdin(&args, &docs)?;
    let text = output_text(&out);
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.ends_with(" created") && !l.ends_with(" created (server dry run)"))
        .filter(|l| !(l.contains(CONVERSION_UNAVAILABLE) && l.contains("Post \"https://")))
        .collect();
    if problems.is_empty() {
        Ok(Verdict::Accepted)
    } else {
        Ok(Verdict::Rejected(text))
    }
}

/// Every document of a manifest, without `metadata.namespace`, as a YAML stream.
fn into_namespace(manifest: &str) -> Result<String> {
    let mut out = String::new();
    for doc in serde_yaml::Deserializer::from_str(manifest) {
        let mut value = Value::deserialize(doc).context("parsing a YAML document")?;
        if value.is_null() {
            continue;
        }
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("namespace");
        }
        out.push_str("---\n");
        out.push_str(&serde_json::to_string(&value)?);
        out.push('\n');
    }
    Ok(out)
}

fn get_json(ns: &TestNs, resource: &str, name: &str) -> Value {
    let out = kubectl(&["get", resource, name, "-n", &ns.name, "-o", "json"]).unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn generated_crds_install_and_become_established() {
    install_crds().await.unwrap();
    install_crds().await.unwrap(); // idempotent
    let api: Api<CustomResourceDefinition> = Api::all(client().await.unwrap());
    for name in [XBACKENDS, XACCESSPOLICIES] {
        let crd = api.get(name).await.unwrap();
        assert!(is_established(&crd), "{name}: {:?}", crd.status);
        let accepted = crd
            .status
            .as_ref()
            .and_then(|s| s.accepted_names.as_ref()?.short_names.clone());
        assert!(
            accepted.is_some_and(|s| !s.is_empty()),
            "{name} short names"
        );
    }
    let policies = api.get(XACCESSPOLICIES).await.unwrap();
    let served: Vec<_> = policies
        .spec
        .versions
        .iter()
        .map(|v| (v.name.clone(), v.served, v.storage))
        .collect();
    assert_eq!(
        served,
        [
            ("v0alpha0".into(), true, false),
            ("v1alpha1".into(), true, true)
        ]
    );
    let stored = policies
        .status
        .and_then(|s| s.stored_versions)
        .unwrap_or_default();
    assert_eq!(stored, ["v1alpha1"]);
    let chart: Vec<String> = chart_crds()
        .unwrap()
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(
        chart,
        ["ratelimitpolicies.agentnet.dev", XACCESSPOLICIES, XBACKENDS]
    );
}

#[tokio::test]
async fn short_names_category_and_printer_columns_work_in_kubectl() {
    install_crds().await.unwrap();
    let ns = TestNs::new("e2e-crd-print").await.unwrap();
    let backend = json!({"apiVersion": V0, "kind": "XBackend", "metadata": {"name": "tools"},
        "spec": {"mcp": {"serviceName": "tools-svc", "port": 3001}}});
    let policy = json!({"apiVersion": V1, "kind": "XAccessPolicy", "metadata": {"name": "p"},
        "spec": {"targetRefs": [{"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "tools"}],
                 "action": "Allow"}});
    for object in [&backend, &policy] {
        assert_eq!(
            submit(&ns, &object.to_string(), false).unwrap(),
            Verdict::Accepted
        );
    }
    let status = json!({"status": {"ancestors": [{
        "ancestorRef": {"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "tools", "namespace": ns.name},
        "controllerName": "agentnet.dev/webhook",
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "ok",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}]}});
    let out = kubectl(&[
        "patch",
        "xap",
        "p",
        "-n",
        &ns.name,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ])
    .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));

    let table = |resource: &str| output_text(&kubectl(&["get", resource, "-n", &ns.name]).unwrap());
    let wide = output_text(&kubectl(&["get", "xap", "-n", &ns.name, "-o", "wide"]).unwrap());
    assert_row(&wide, &["p", "Allow", "XBackend", "tools", "True"]);
    let policies = table("xap");
    assert_row(&policies, &["NAME", "ACTION", "TARGET", "ACCEPTED", "AGE"]);
    assert_row(&policies, &["p", "Allow", "tools", "True"]);
    let backends = table("xbe");
    assert_row(
        &backends,
        &["NAME", "SERVICE", "HOSTNAME", "PORT", "MCP", "A2A", "AGE"],
    );
    assert_row(&backends, &["tools", "tools-svc", "3001", "/mcp"]);
    let both = table("agentic");
    assert!(
        both.contains("xaccesspolicy.agentic.networking.x-k8s.io/p"),
        "{both}"
    );
    assert!(
        both.contains("xbackend.agentic.networking.x-k8s.io/tools"),
        "{both}"
    );
}

/// `line` is some row of `table` whose whitespace-separated cells start with `cells`.
fn assert_row(table: &str, cells: &[&str]) {
    let found = table.lines().any(|l| {
        l.split_whitespace()
            .take(cells.len())
            .eq(cells.iter().copied())
    });
    assert!(found, "no row starting {cells:?} in:\n{table}");
}

#[tokio::test]
async fn the_server_applies_upstream_defaults() {
    install_crds().await.unwrap();
    let ns = TestNs::new("e2e-crd-defaults").await.unwrap();
    let objects = [
        json!({"apiVersion": V0, "kind": "XBackend", "metadata": {"name": "mcp"},
            "spec": {"mcp": {"hostname": "mcp.example.com", "port": 443}}}),
        json!({"apiVersion": V0, "kind": "XBackend", "metadata": {"name": "agent"},
            "spec": {"a2a": {"serviceName": "agent", "port": 9999}}}),
        json!({"apiVersion": V1, "kind": "XAccessPolicy", "metadata": {"name": "p"}, "spec": {
            "targetRefs": [{"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "mcp"}],
            "action": "ExternalAuth",
            "externalAuth": {"protocol": "HTTP", "backendRef": {"name": "authz", "port": 8000}, "http": {}},
            "rules": [{"name": "r", "authorization": {"type": "Inline",
                "paths": [{}], "headers": [{"name": "x-a", "value": "b"}], "mcp": {}}}]}}),
    ];
    for object in &objects {
        assert_eq!(
            submit(&ns, &object.to_string(), false).unwrap(),
            Verdict::Accepted
        );
    }
    assert_eq!(get_json(&ns, "xbe", "mcp")["spec"]["mcp"]["path"], "/mcp");
    assert_eq!(get_json(&ns, "xbe", "agent")["spec"]["a2a"]["path"], "/");
    let spec = get_json(&ns, "xap", "p")["spec"].clone();
    assert_eq!(
        spec["externalAuth"]["backendRef"],
        json!({"group": "", "kind": "Service", "name": "authz", "port": 8000})
    );
    let authz = &spec["rules"][0]["authorization"];
    assert_eq!(authz["paths"], json!([{"type": "PathPrefix", "value": ""}]));
    assert_eq!(authz["headers"][0]["type"], "Exact");
    assert_eq!(
        authz["mcp"],
        json!({"mcpBaseProtocolMethodsOption": "SKIP_BASE_PROTOCOL_METHODS"})
    );
}

#[tokio::test]
async fn an_explicit_null_is_dropped_as_upstream_drops_it() {
    install_crds().await.unwrap();
    let ns = TestNs::new("e2e-crd-null").await.unwrap();
    let backend = json!({"apiVersion": V0, "kind": "XBackend", "metadata": {"name": "b"},
        "spec": {"mcp": {"serviceName": "svc", "hostname": null, "port": 80}}});
    assert_eq!(
        submit(&ns, &backend.to_string(), false).unwrap(),
        Verdict::Accepted
    );
    let mcp = get_json(&ns, "xbe", "b")["spec"]["mcp"].clone();
    assert_eq!(
        mcp,
        json!({"serviceName": "svc", "port": 80, "path": "/mcp"})
    );
}

#[tokio::test]
async fn v0alpha0_is_validated_before_conversion() {
    install_crds().await.unwrap();
    let ns = TestNs::new("e2e-crd-v0").await.unwrap();
    let policy = |tools: Value| {
        json!({"apiVersion": V0, "kind": "XAccessPolicy", "metadata": {"name": "legacy"},
        "spec": {"targetRefs": [{"group": "agentic.networking.x-k8s.io", "kind": "XBackend", "name": "b"}],
                 "rules": [{"name": "r", "source": {"type": "ServiceAccount", "serviceAccount": {"name": "a"}},
                            "authorization": {"type": "InlineTools", "tools": tools}}]}})
    };
    let invalid = kubectl_stdin(
        &["create", "-n", &ns.name, "-f", "-"],
        &policy(json!([])).to_string(),
    )
    .unwrap();
    let text = output_text(&invalid);
    assert!(
        text.contains("spec.rules[0].authorization.tools in body should have at least 1 items"),
        "{text}"
    );
    assert!(!text.contains("conversion webhook"), "{text}");

    // A valid object gets past validation; without agentnet-webhook the conversion
    // call is what fails. (With the webhook running, the create succeeds.)
    let valid = kubectl_stdin(
        &["create", "-n", &ns.name, "-f", "-"],
        &policy(json!(["get-sum"])).to_string(),
    )
    .unwrap();
    let text = output_text(&valid);
    assert!(
        valid.status.success() || text.contains(CONVERSION_UNAVAILABLE),
        "{text}"
    );
    assert!(!text.contains("is invalid"), "{text}");
}
