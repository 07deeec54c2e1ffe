use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use kube::core::admission::AdmissionReview;

use super::*;

fn enabled(name: &str) -> NamespaceInfo {
    NamespaceInfo {
        name: name.into(),
        labels: BTreeMap::from([("agentnet.dev/inject".to_owned(), "enabled".to_owned())]),
        annotations: BTreeMap::new(),
    }
}

fn pod(annotations: &[(&str, &str)]) -> Pod {
    let mut pod = Pod {
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    };
    if !annotations.is_empty() {
        let map = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        pod.metadata.annotations = Some(map);
    }
    pod
}

fn request(pod: &Pod) -> AdmissionRequest<Pod> {
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "5e1c7a49-9d0b-4a9e-8f6a-0d8f1c2b3a4d",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "agents",
            "operation": "CREATE",
            "userInfo": {"username": "alice"},
            "object": pod,
            "oldObject": null,
            "dryRun": false
        }
    });
    let review: AdmissionReview<Pod> = serde_json::from_value(review).unwrap();
    review.try_into().unwrap()
}

#[test]
fn injected_pods_get_a_json_patch_echoing_the_request_uid() {
    let pod = pod(&[]);
    let verdict = decide(&pod, &enabled("agents"), &MutateConfig::for_test());
    assert_eq!(verdict.result(), "injected");
    let response = respond(&request(&pod), verdict);
    let json = serde_json::to_value(response.into_review()).unwrap();
    assert_eq!(json["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(json["kind"], "AdmissionReview");
    let r = &json["response"];
    assert_eq!(r["uid"], "5e1c7a49-9d0b-4a9e-8f6a-0d8f1c2b3a4d");
    assert_eq!(r["allowed"], true);
    assert_eq!(r["patchType"], "JSONPatch");
    // kube-core sends the patch bytes as a JSON array, which the API server accepts.
    let patch: Vec<u8> = serde_json::from_value(r["patch"].clone()).unwrap();
    let ops: Vec<serde_json::Value> = serde_json::from_slice(&patch).unwrap();
    assert!(ops.iter().any(|op| op["path"] == "/spec/initContainers/0"));
}

#[test]
fn invalid_annotation_is_denied_with_the_reason() {
    let pod = pod(&[("agentnet.dev/log-level", "verbose")]);
    let verdict = decide(&pod, &enabled("agents"), &MutateConfig::for_test());
    let Verdict::Reject(message) = &verdict else {
        panic!("{verdict:?}")
    };
    assert!(message.starts_with("agentnet: invalid pod annotation agentnet.dev/log-level=\"verbose\": accepted values are error, warn"), "{message}");
    let response = respond(&request(&pod), verdict);
    assert!(!response.allowed);
    assert!(response.patch.is_none());
    assert!(response.result.message.contains("agentnet.dev/log-level"));
}

#[test]
fn skipped_pods_are_allowed_unchanged() {
    let pod = pod(&[("agentnet.dev/log-level", "verbose")]);
    let mut ns = enabled("agents");
    ns.labels.clear();
    let verdict = decide(&pod, &ns, &MutateConfig::for_test());
    assert_eq!(
        verdict,
        Verdict::Skip(SkipReason::NamespaceNotEnabled),
        "skip is checked before annotations"
    );
    let response = respond(&request(&pod), verdict);
    assert!(response.allowed);
    assert!(response.patch.is_none());
}

#[test]
fn a_second_admission_of_an_injected_pod_changes_nothing() {
    let cfg = MutateConfig::for_test();
    let original = pod(&[]);
    let Verdict::Inject(patch) = decide(&original, &enabled("agents"), &cfg) else {
        panic!("not injected")
    };
    let mut doc = serde_json::to_value(&original).unwrap();
    json_patch::patch(&mut doc, &patch).unwrap();
    let injected: Pod = serde_json::from_value(doc).unwrap();
    assert_eq!(
        decide(&injected, &enabled("agents"), &cfg),
        Verdict::Skip(SkipReason::AlreadyInjected)
    );
}

#[test]
fn namespace_annotations_tune_pods_without_their_own() {
    let mut ns = enabled("agents");
    ns.annotations
        .insert("agentnet.dev/outbound-default".into(), "deny".into());
    let Verdict::Inject(patch) = decide(&pod(&[]), &ns, &MutateConfig::for_test()) else {
        panic!()
    };
    let text = serde_json::to_string(&patch).unwrap();
    assert!(
        text.contains(r#"{"name":"AGENTNET_OUTBOUND_DEFAULT","value":"deny"}"#),
        "{text}"
    );
}
