//! Why a pod the API server sent us is admitted without a sidecar. The
//! MutatingWebhookConfiguration's selectors and matchConditions already filter these
//! out; the handler checks again so a hand-edited or stale configuration cannot
//! inject where it must not (kube-system, our own namespace, host-network pods).

use std::collections::BTreeMap;

use agentnet_api::contract;
use k8s_openapi::api::core::v1::Pod;

/// Namespace facts the decision needs (the webhook GETs the namespace).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Namespaces that are never injected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exclusions {
    /// The webhook's own (release) namespace.
    pub release_namespace: String,
    pub extra: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    AlreadyInjected,
    NamespaceNotEnabled,
    ProtectedNamespace,
    PodOptedOut,
    HostNetwork,
    MirrorPod,
}

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

// === impl SkipReason ===

impl SkipReason {
    /// Stable label value for metrics and Events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlreadyInjected => "already_injected",
            Self::NamespaceNotEnabled => "namespace_not_enabled",
            Self::ProtectedNamespace => "protected_namespace",
            Self::PodOptedOut => "pod_opted_out",
            Self::HostNetwork => "host_network",
            Self::MirrorPod => "mirror_pod",
        }
    }

    pub fn explain(self) -> &'static str {
        match self {
            Self::AlreadyInjected => "the pod already has the agentnet sidecar",
            Self::NamespaceNotEnabled => {
                "the namespace is not labelled agentnet.dev/inject=enabled"
            }
            Self::ProtectedNamespace => {
                "the namespace is kube-system, agentnet's own, or excluded by configuration"
            }
            Self::PodOptedOut => "the pod is labelled agentnet.dev/inject=disabled",
            Self::HostNetwork => "the pod uses the host network, which the sidecar cannot mediate",
            Self::MirrorPod => "static (mirror) pods cannot be mutated",
        }
    }
}

/// Why `pod` gets no sidecar, or `None` when it should get one.
pub fn skip_reason(pod: &Pod, ns: &NamespaceInfo, exclusions: &Exclusions) -> Option<SkipReason> {
    if has_sidecar(pod) {
        return Some(SkipReason::AlreadyInjected);
    }
    if is_protected(&ns.name, exclusions) {
        return Some(SkipReason::ProtectedNamespace);
    }
    if ns.labels.get(contract::INJECT_LABEL).map(String::as_str) != Some(contract::INJECT_ENABLED) {
        return Some(SkipReason::NamespaceNotEnabled);
    }
    pod_reason(pod)
}

fn pod_reason(pod: &Pod) -> Option<SkipReason> {
    let labels = pod.metadata.labels.as_ref();
    if labels
        .and_then(|l| l.get(contract::INJECT_LABEL))
        .map(String::as_str)
        == Some(contract::INJECT_DISABLED)
    {
        return Some(SkipReason::PodOptedOut);
    }
    let annotations = pod.metadata.annotations.as_ref();
    if annotations.is_some_and(|a| a.contains_key(MIRROR_ANNOTATION)) {
        return Some(SkipReason::MirrorPod);
    }
    let spec = pod.spec.as_ref();
    if spec.and_then(|s| s.host_network).unwrap_or(false) {
        return Some(SkipReason::HostNetwork);
    }
    None
}

fn is_protected(namespace: &str, exclusions: &Exclusions) -> bool {
    namespace == "kube-system"
        || namespace == exclusions.release_namespace
        || exclusions.extra.iter().any(|n| n == namespace)
}

/// Injection is recognised by the container name, wherever it is, so a re-invocation
/// or a copy of an injected pod's spec is admitted unchanged.
pub fn has_sidecar(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    let named = |c: &k8s_openapi::api::core::v1::Container| c.name == contract::SIDECAR_CONTAINER;
    spec.init_containers.iter().flatten().any(named) || spec.containers.iter().any(named)
}

#[cfg(test)]
mod tests;
