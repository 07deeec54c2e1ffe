//! What an admission tells the cluster: an Event on the pod (or its controller) for
//! every injection, skip or rejection, never for dry-run requests. Choosing the Event
//! is pure; publishing it is the handler's job.

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::runtime::events::{Event, EventType};

use super::Verdict;

pub const REASON_INJECTED: &str = "Injected";
pub const REASON_SKIPPED: &str = "InjectionSkipped";
pub const REASON_REJECTED: &str = "InjectionRejected";
pub const REASON_UNKNOWN_ANNOTATION: &str = "UnknownAnnotation";

/// One Event to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct PodEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub note: String,
    pub regarding: ObjectReference,
}

// === impl PodEvent ===

impl PodEvent {
    pub fn to_event(&self) -> Event {
        Event {
            type_: if self.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: self.reason.into(),
            note: Some(self.note.clone()),
            action: "Inject".into(),
            secondary: None,
        }
    }
}

/// The Event for `verdict`, or `None` on dry-run: `sideEffects: NoneOnDryRun` is a
/// promise to the API server.
pub fn event_for(verdict: &Verdict, pod: &Pod, namespace: &str, dry_run: bool) -> Option<PodEvent> {
    if dry_run {
        return None;
    }
    let who = pod_label(pod);
    let (warning, reason, note) = match verdict {
        Verdict::Inject(_) => (
            false,
            REASON_INJECTED,
            format!("agentnet sidecar injected into pod {who}"),
        ),
        Verdict::Skip(r) => (
            false,
            REASON_SKIPPED,
            format!("pod {who} not injected: {}", r.explain()),
        ),
        Verdict::Reject(msg) => (true, REASON_REJECTED, format!("pod {who} rejected: {msg}")),
    };
    Some(PodEvent {
        warning,
        reason,
        note,
        regarding: regarding(pod, namespace),
    })
}

/// The admission warning for each unknown `agentnet.dev/` annotation (kubectl prints
/// them; the API asks for 120 characters where possible).
pub fn unknown_annotation_warnings(keys: &[String]) -> Vec<String> {
    keys.iter()
        .map(|k| format!("agentnet: unknown annotation {k} ignored (not known to this version)"))
        .collect()
}

/// The Warning Event for a pod's unknown annotations (none on dry-run, or without any).
pub fn unknown_annotation_event(
    keys: &[String],
    pod: &Pod,
    namespace: &str,
    dry_run: bool,
) -> Option<PodEvent> {
    if dry_run || keys.is_empty() {
        return None;
    }
    let note = format!(
        "pod {}: agentnet ignored unknown annotation(s) {}; the agentnet.dev/ annotations this version knows are {}",
        pod_label(pod),
        keys.join(", "),
        super::tuning::KNOWN.join(", ")
    );
    Some(PodEvent {
        warning: true,
        reason: REASON_UNKNOWN_ANNOTATION,
        note,
        regarding: regarding(pod, namespace),
    })
}

/// A pod being created has no uid yet and often no name (`generateName`), so the
/// Event goes to its controller when it has one, as `kubectl describe` users expect.
pub fn regarding(pod: &Pod, namespace: &str) -> ObjectReference {
    let owners = pod.metadata.owner_references.iter().flatten();
    if let Some(owner) = owners.into_iter().find(|o| o.controller == Some(true)) {
        return ObjectReference {
            api_version: Some(owner.api_version.clone()),
            kind: Some(owner.kind.clone()),
            name: Some(owner.name.clone()),
            namespace: Some(namespace.to_owned()),
            uid: Some(owner.uid.clone()),
            ..ObjectReference::default()
        };
    }
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone().filter(|n| !n.is_empty()),
        namespace: Some(namespace.to_owned()),
        ..ObjectReference::default()
    }
}

/// `name`, or `generateName*` when the API server has not named it yet.
fn pod_label(pod: &Pod) -> String {
    match (&pod.metadata.name, &pod.metadata.generate_name) {
        (Some(name), _) if !name.is_empty() => name.clone(),
        (_, Some(prefix)) => format!("{prefix}*"),
        _ => "(unnamed)".into(),
    }
}

#[cfg(test)]
mod tests;
