//! The webhook against AdmissionReview documents captured from the real
//! kube-apiserver v1.37.2 (`tests/fixtures/`): each patch is applied to the captured
//! object exactly as the API server would apply it.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
use std::collections::BTreeMap;

use agentnet_webhook::config::Config;
use agentnet_webhook::mutate::report::event_for;
use agentnet_webhook::mutate::skip::{NamespaceInfo, SkipReason};
use agentnet_webhook::mutate::{MutateConfig, Verdict, decide, respond};
use clap::Parser;
use json_patch::Patch;
use k8s_openapi::api::core::v1::Pod;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use serde_json::Value;

struct Captured {
    request: AdmissionRequest<Pod>,
    /// The object exactly as the API server sent it.
    object: Value,
}

fn captured(file: &str) -> Captured {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let raw: Value = serde_json::from_str(&text).unwrap();
    let review: AdmissionReview<Pod> = serde_json::from_str(&text).unwrap();
    Captured {
        request: review.try_into().unwrap(),
        object: raw["request"]["object"].clone(),
    }
}

fn config() -> MutateConfig {
    let config = Config::try_parse_from([
        "agentnet-webhook",
        "--namespace=agentnet-system",
        "--sidecar-image=ghcr.io/agentnet-dev/agentnet-sidecar:0.1.0",
        "--sidecar-version=0.1.0",
        "--proxy-cpu-request=10m",
        "--proxy-memory-request=32Mi",
        "--proxy-memory-limit=128Mi",
    ])
    .unwrap();
    MutateConfig::from_config(&config)
}

fn enabled() -> NamespaceInfo {
    NamespaceInfo {
        name: "agents".into(),
        labels: BTreeMap::from([("agentnet.dev/inject".to_owned(), "enabled".to_owned())]),
        annotations: BTreeMap::new(),
    }
}

fn inject(c: &Captured) -> (Patch, Value) {
    let pod = c.request.object.as_ref().unwrap();
    let Verdict::Inject(patch) = decide(pod, &enabled(), &config()) else {
        panic!("not injected")
    };
    let mut object = c.object.clone();
    json_patch::patch(&mut object, &patch).expect("the API server could apply this patch");
    (patch, object)
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    let env = container["env"].as_array()?;
    env.iter()
        .find(|v| v["name"] == name)
        .and_then(|v| v["value"].as_str())
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect()
}

#[test]
fn pod_with_service_account_volume_and_no_proxy_is_injected() {
    let c = captured("review-pod-with-no-proxy.json");
    let (patch, pod) = inject(&c);
    insta::assert_json_snapshot!("pod_with_no_proxy_patch", patch);
    let spec = &pod["spec"];
    assert_eq!(
        names(&spec["initContainers"]),
        ["agentnet-init", "agentnet-sidecar"]
    );
    let volumes = names(&spec["volumes"]);
    assert!(volumes[0].starts_with("kube-api-access-"), "{volumes:?}");
    assert_eq!(&volumes[1..], ["agentnet-token", "agentnet-trust-bundle"]);
    let app = &spec["containers"][0];
    assert_eq!(
        env_value(app, "MODEL"),
        Some("small"),
        "the user's variables stay"
    );
    let no_proxy = env_value(app, "NO_PROXY").unwrap();
    assert!(
        no_proxy.starts_with("localhost,127.0.0.1,::1,"),
        "{no_proxy}"
    );
    assert!(
        no_proxy.ends_with(",internal.example.com,10.0.0.0/8"),
        "the user's hosts stay: {no_proxy}"
    );
    assert_eq!(env_value(app, "HTTP_PROXY"), Some("http://127.0.0.1:15001"));
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["agentnet.dev/injected"], "true");
    assert!(annotations["kubectl.kubernetes.io/last-applied-configuration"].is_string());
}

#[test]
fn pod_without_volumes_init_containers_or_annotations_is_injected() {
    let c = captured("review-pod-without-volumes.json");
    for absent in ["volumes", "initContainers"] {
        assert!(
            c.object["spec"].get(absent).is_none(),
            "the fixture really lacks {absent}"
        );
    }
    assert!(c.object["metadata"].get("annotations").is_none());
    let (patch, pod) = inject(&c);
    insta::assert_json_snapshot!("pod_without_volumes_patch", patch);
    assert_eq!(
        names(&pod["spec"]["volumes"]),
        ["agentnet-token", "agentnet-trust-bundle"]
    );
    assert_eq!(
        names(&pod["spec"]["initContainers"]),
        ["agentnet-init", "agentnet-sidecar"]
    );
    assert_eq!(
        pod["metadata"]["annotations"]["agentnet.dev/sidecar-version"],
        "0.1.0"
    );
}

#[test]
fn dry_run_with_annotations_init_containers_and_env_from() {
    let c = captured("review-dry-run-generate-name.json");
    assert!(c.request.dry_run);
    let pod = c.request.object.as_ref().unwrap();
    let verdict = decide(pod, &enabled(), &config());
    assert_eq!(
        event_for(&verdict, pod, "agents", c.request.dry_run),
        None,
        "no side effects on dry-run"
    );
    let (_, pod) = inject(&c);
    let spec = &pod["spec"];
    assert_eq!(
        names(&spec["initContainers"]),
        ["agentnet-init", "agentnet-sidecar", "migrate"]
    );
    let sidecar = &spec["initContainers"][1];
    assert_eq!(
        env_value(sidecar, "AGENTNET_LOG"),
        Some("debug"),
        "pod annotation applied"
    );
    let migrate_no_proxy = env_value(&spec["initContainers"][2], "NO_PROXY").unwrap();
    assert!(
        migrate_no_proxy.ends_with(",db.internal,.corp.example"),
        "{migrate_no_proxy}"
    );
    let helper_no_proxy = env_value(&spec["containers"][1], "NO_PROXY").unwrap();
    assert!(
        helper_no_proxy.ends_with(",$(NO_PROXY),$(no_proxy)"),
        "envFrom kept: {helper_no_proxy}"
    );
}

#[test]
fn invalid_annotation_is_denied_with_a_clear_message() {
    let c = captured("review-invalid-log-level.json");
    let pod = c.request.object.as_ref().unwrap();
    let verdict = decide(pod, &enabled(), &config());
    let response = respond(&c.request, verdict);
    assert!(!response.allowed);
    assert!(response.patch.is_none());
    assert_eq!(response.uid, c.request.uid);
    assert!(
        response.result.message.starts_with(
            "agentnet: invalid pod annotation agentnet.dev/log-level=\"verbose\": accepted values are error, warn, info, debug, trace"
        ),
        "{}",
        response.result.message
    );
}

#[test]
fn already_injected_pod_is_admitted_unchanged() {
    let c = captured("review-already-injected.json");
    let pod = c.request.object.as_ref().unwrap();
    let verdict = decide(pod, &enabled(), &config());
    assert_eq!(verdict, Verdict::Skip(SkipReason::AlreadyInjected));
    let response = respond(&c.request, verdict);
    assert!(response.allowed);
    assert!(response.patch.is_none());
}
