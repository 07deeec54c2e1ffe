use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{MutatingWebhook, WebhookClientConfig};
use kube::api::ObjectMeta;

use super::*;

fn mwc(bundles: &[Option<&str>]) -> MutatingWebhookConfiguration {
    let webhooks = bundles
        .iter()
        .enumerate()
        .map(|(i, ca)| MutatingWebhook {
            name: format!("w{i}.agentnet.dev"),
            client_config: WebhookClientConfig {
                ca_bundle: ca.map(|c| ByteString(c.as_bytes().to_vec())),
                ..WebhookClientConfig::default()
            },
            ..MutatingWebhook::default()
        })
        .collect();
    MutatingWebhookConfiguration {
        metadata: ObjectMeta {
            name: Some("agentnet".into()),
            ..ObjectMeta::default()
        },
        webhooks: Some(webhooks),
    }
}

#[test]
fn webhook_patch_sets_the_ca_on_every_webhook_by_name() {
    let ca = STANDARD.encode("PEM");
    let patch = webhook_patch(&mwc(&[None, Some("OLD")]), &ca).unwrap();
    assert_eq!(
        patch,
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "agentnet"},
            "webhooks": [
                {"name": "w0.agentnet.dev", "clientConfig": {"caBundle": ca}},
                {"name": "w1.agentnet.dev", "clientConfig": {"caBundle": ca}},
            ],
        })
    );
}

#[test]
fn nothing_is_written_when_the_ca_is_already_there() {
    let ca = STANDARD.encode("PEM");
    assert_eq!(webhook_patch(&mwc(&[Some("PEM"), Some("PEM")]), &ca), None);
}

#[test]
fn crd_patch_points_at_the_service_or_the_url_and_drops_the_other() {
    let service = Endpoint::Service {
        namespace: "agentnet-system".into(),
        name: "agentnet-webhook".into(),
        port: 443,
    };
    let patch = crd_patch("Q0E=", &service);
    let config = &patch["spec"]["conversion"]["webhook"]["clientConfig"];
    assert_eq!(config["service"]["path"], "/convert");
    assert_eq!(config["url"], Value::Null);
    assert_eq!(patch["spec"]["conversion"]["strategy"], "Webhook");

    let url = crd_patch("Q0E=", &Endpoint::Url("https://127.0.0.1:9443".into()));
    let config = &url["spec"]["conversion"]["webhook"]["clientConfig"];
    assert_eq!(config["url"], "https://127.0.0.1:9443/convert");
    assert_eq!(config["service"], Value::Null);
    assert_eq!(config["caBundle"], "Q0E=");
}

#[test]
fn a_crd_already_converted_by_us_is_left_alone() {
    let patch = crd_patch("Q0E=", &Endpoint::Url("https://127.0.0.1:9443".into()));
    let mut crd = CustomResourceDefinition::default();
    crd.spec.conversion =
        Some(serde_json::from_value(patch["spec"]["conversion"].clone()).unwrap());
    assert!(is_applied(&crd, &patch));
    let other = crd_patch("Q0E=", &Endpoint::Url("https://127.0.0.1:9444".into()));
    assert!(!is_applied(&crd, &other));
}

#[test]
fn subset_treats_null_as_absent() {
    assert!(is_subset(
        &json!({"a": 1, "b": null}),
        &json!({"a": 1, "c": 2})
    ));
    assert!(!is_subset(
        &json!({"a": 1, "b": null}),
        &json!({"a": 1, "b": 2})
    ));
    assert!(!is_subset(&json!({"a": 1}), &json!({"a": 2})));
}
