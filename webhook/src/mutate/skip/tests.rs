use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use kube::api::ObjectMeta;

use super::*;

fn ns(name: &str, enabled: bool) -> NamespaceInfo {
    let labels = if enabled {
        BTreeMap::from([(
            contract::INJECT_LABEL.to_owned(),
            contract::INJECT_ENABLED.to_owned(),
        )])
    } else {
        BTreeMap::new()
    };
    NamespaceInfo {
        name: name.into(),
        labels,
        annotations: BTreeMap::new(),
    }
}

fn exclusions() -> Exclusions {
    Exclusions {
        release_namespace: "agentnet-system".into(),
        extra: vec!["cert-manager".into()],
    }
}

fn pod() -> Pod {
    Pod {
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

fn reason(pod: &Pod, ns: &NamespaceInfo) -> Option<SkipReason> {
    skip_reason(pod, ns, &exclusions())
}

#[test]
fn a_plain_pod_in_an_enabled_namespace_is_injected() {
    assert_eq!(reason(&pod(), &ns("agents", true)), None);
}

#[test]
fn namespace_must_carry_the_opt_in_label() {
    assert_eq!(
        reason(&pod(), &ns("agents", false)),
        Some(SkipReason::NamespaceNotEnabled)
    );
    let mut wrong = ns("agents", true);
    wrong
        .labels
        .insert(contract::INJECT_LABEL.into(), "yes".into());
    assert_eq!(
        reason(&pod(), &wrong),
        Some(SkipReason::NamespaceNotEnabled)
    );
}

#[test]
fn protected_namespaces_are_never_injected_even_when_labelled() {
    for name in ["kube-system", "agentnet-system", "cert-manager"] {
        assert_eq!(
            reason(&pod(), &ns(name, true)),
            Some(SkipReason::ProtectedNamespace),
            "{name}"
        );
    }
}

#[test]
fn pod_level_reasons() {
    let mut opted_out = pod();
    opted_out.metadata = ObjectMeta {
        labels: Some(BTreeMap::from([(
            contract::INJECT_LABEL.into(),
            contract::INJECT_DISABLED.into(),
        )])),
        ..ObjectMeta::default()
    };
    assert_eq!(
        reason(&opted_out, &ns("a", true)),
        Some(SkipReason::PodOptedOut)
    );

    let mut host = pod();
    host.spec.as_mut().unwrap().host_network = Some(true);
    assert_eq!(reason(&host, &ns("a", true)), Some(SkipReason::HostNetwork));

    let mut mirror = pod();
    mirror.metadata.annotations = Some(BTreeMap::from([(MIRROR_ANNOTATION.into(), "x".into())]));
    assert_eq!(reason(&mirror, &ns("a", true)), Some(SkipReason::MirrorPod));
}

#[test]
fn an_injected_pod_is_recognised_by_its_sidecar_container() {
    let mut injected = pod();
    let sidecar = Container {
        name: contract::SIDECAR_CONTAINER.into(),
        ..Container::default()
    };
    injected.spec.as_mut().unwrap().init_containers = Some(vec![sidecar.clone()]);
    assert_eq!(
        reason(&injected, &ns("a", true)),
        Some(SkipReason::AlreadyInjected)
    );
    // Even in a namespace that is no longer enabled: the reason is the most specific one.
    assert_eq!(
        reason(&injected, &ns("a", false)),
        Some(SkipReason::AlreadyInjected)
    );
    let mut as_container = pod();
    as_container.spec.as_mut().unwrap().containers.push(sidecar);
    assert!(has_sidecar(&as_container));
    assert!(!has_sidecar(&Pod::default()));
}

#[test]
fn reasons_have_stable_metric_labels_and_explanations() {
    let all = [
        SkipReason::AlreadyInjected,
        SkipReason::NamespaceNotEnabled,
        SkipReason::ProtectedNamespace,
        SkipReason::PodOptedOut,
        SkipReason::HostNetwork,
        SkipReason::MirrorPod,
    ];
    let labels: Vec<&str> = all.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        labels,
        [
            "already_injected",
            "namespace_not_enabled",
            "protected_namespace",
            "pod_opted_out",
            "host_network",
            "mirror_pod"
        ]
    );
    assert!(all.iter().all(|r| !r.explain().is_empty()));
}
