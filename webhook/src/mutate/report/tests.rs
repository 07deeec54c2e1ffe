use json_patch::Patch;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::*;
use crate::mutate::skip::SkipReason;

fn named(name: &str) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.name = Some(name.into());
    pod
}

#[test]
fn dry_run_requests_publish_no_event() {
    for verdict in [
        Verdict::Inject(Patch(vec![])),
        Verdict::Skip(SkipReason::HostNetwork),
        Verdict::Reject("no".into()),
    ] {
        assert_eq!(
            event_for(&verdict, &named("p"), "agents", true),
            None,
            "{verdict:?}"
        );
        assert!(
            event_for(&verdict, &named("p"), "agents", false).is_some(),
            "{verdict:?}"
        );
    }
}

#[test]
fn skipped_pods_get_an_injection_skipped_event_with_the_reason() {
    let event = event_for(
        &Verdict::Skip(SkipReason::HostNetwork),
        &named("agent"),
        "agents",
        false,
    )
    .unwrap();
    assert_eq!(event.reason, "InjectionSkipped");
    assert!(!event.warning);
    assert_eq!(
        event.note,
        "pod agent not injected: the pod uses the host network, which the sidecar cannot mediate"
    );
    assert_eq!(event.regarding.kind.as_deref(), Some("Pod"));
    assert_eq!(event.regarding.name.as_deref(), Some("agent"));
    assert_eq!(event.regarding.namespace.as_deref(), Some("agents"));
}

#[test]
fn rejections_are_warnings() {
    let event = event_for(
        &Verdict::Reject("agentnet: bad".into()),
        &named("agent"),
        "agents",
        false,
    )
    .unwrap();
    assert!(event.warning);
    assert_eq!(event.reason, "InjectionRejected");
    assert!(matches!(
        event.to_event().type_,
        kube::runtime::events::EventType::Warning
    ));
}

#[test]
fn events_of_controlled_pods_go_to_the_controller() {
    let mut pod = Pod::default();
    pod.metadata.generate_name = Some("worker-".into());
    pod.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "worker-7d9f".into(),
        uid: "0b5c8f7e-1111-4a2b-9c3d-5e6f7a8b9c0d".into(),
        controller: Some(true),
        ..OwnerReference::default()
    }]);
    let event = event_for(&Verdict::Inject(Patch(vec![])), &pod, "agents", false).unwrap();
    assert_eq!(event.regarding.kind.as_deref(), Some("ReplicaSet"));
    assert_eq!(event.regarding.name.as_deref(), Some("worker-7d9f"));
    assert_eq!(
        event.regarding.uid.as_deref(),
        Some("0b5c8f7e-1111-4a2b-9c3d-5e6f7a8b9c0d")
    );
    assert_eq!(event.note, "agentnet sidecar injected into pod worker-*");
}

#[test]
fn unnamed_uncontrolled_pods_leave_the_name_empty() {
    let mut pod = Pod::default();
    pod.metadata.generate_name = Some("job-".into());
    assert_eq!(regarding(&pod, "agents").name, None);
}
