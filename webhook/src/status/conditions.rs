//! Pure status building: the policy crate's report, merged into an object's current
//! status. Other controllers' ancestors and condition types are kept; a condition's
//! `lastTransitionTime` moves only when its status flips. `None` means "no change",
//! so the caller writes nothing and its own write cannot retrigger a write.

use agentnet_api::gateway::{ParentReference, PolicyAncestorStatus};
use agentnet_api::v0alpha0::XBackendStatus;
use agentnet_api::v1alpha1::XAccessPolicyStatus;
use agentnet_policy::{
    ACCEPTED, BackendReport, PROGRAMMED, PolicyReport, RESOLVED_REFS, TargetReport,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// `PolicyAncestorStatus` list limit (Gateway API).
pub const MAX_ANCESTORS: usize = 16;
/// `metav1.Condition.message` limit.
const MAX_MESSAGE_BYTES: usize = 32_768;

/// The clock and identity a status is built with.
#[derive(Clone, Debug)]
pub struct Stamp<'a> {
    pub controller_name: &'a str,
    pub now: Time,
}

/// The XAccessPolicy status to write, if it differs from `current`.
pub fn policy_status(
    report: &PolicyReport,
    current: Option<&XAccessPolicyStatus>,
    stamp: &Stamp<'_>,
) -> Option<XAccessPolicyStatus> {
    policy_status_with(report, current, stamp, None)
}

/// [`policy_status`], with a `Programmed` condition on every ancestor when given.
pub fn policy_status_with(
    report: &PolicyReport,
    current: Option<&XAccessPolicyStatus>,
    stamp: &Stamp<'_>,
    programmed: Option<&agentnet_policy::Condition>,
) -> Option<XAccessPolicyStatus> {
    let existing = current.map_or(&[][..], |s| &s.ancestors[..]);
    let (ours, others): (Vec<_>, Vec<_>) = existing
        .iter()
        .partition(|a| a.controller_name == stamp.controller_name);
    let desired = report
        .targets
        .iter()
        .map(|t| our_ancestor(report, t, &ours, stamp, programmed));
    // Others' entries first: when the list is full, ours give way, never theirs.
    let mut ancestors: Vec<_> = others.into_iter().cloned().collect();
    ancestors.extend(desired);
    ancestors.truncate(MAX_ANCESTORS);
    let changed = !same_elements(existing, &ancestors);
    changed.then_some(XAccessPolicyStatus { ancestors })
}

/// Our entry for one target, keeping the transition time of the entry it replaces.
fn our_ancestor(
    report: &PolicyReport,
    target: &TargetReport,
    ours: &[&PolicyAncestorStatus],
    stamp: &Stamp<'_>,
    programmed: Option<&agentnet_policy::Condition>,
) -> PolicyAncestorStatus {
    let parent = ancestor_ref(&report.policy.namespace, target);
    let previous = ours.iter().find(|a| a.ancestor_ref == parent);
    let accepted = condition(
        ACCEPTED,
        &target.accepted,
        report.generation,
        previous.and_then(|a| find(&a.conditions, ACCEPTED)),
        stamp,
    );
    let mut conditions = vec![accepted];
    // ExternalAuth policies: whether the authorizer's backendRef resolved.
    if let Some(refs) = &report.resolved_refs {
        let previous = previous.and_then(|a| find(&a.conditions, RESOLVED_REFS));
        conditions.push(condition(
            RESOLVED_REFS,
            refs,
            report.generation,
            previous,
            stamp,
        ));
    }
    if let Some(c) = programmed {
        let previous = previous.and_then(|a| find(&a.conditions, PROGRAMMED));
        conditions.push(condition(PROGRAMMED, c, report.generation, previous, stamp));
    }
    PolicyAncestorStatus {
        ancestor_ref: parent,
        controller_name: stamp.controller_name.to_owned(),
        conditions,
    }
}

/// The XBackend status to write, if it differs from `current`.
pub fn backend_status(
    report: &BackendReport,
    current: Option<&XBackendStatus>,
    stamp: &Stamp<'_>,
) -> Option<XBackendStatus> {
    let existing = current.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
    let ours = [
        (ACCEPTED, &report.accepted),
        (RESOLVED_REFS, &report.resolved_refs),
    ];
    let mut conditions: Vec<Condition> = existing
        .iter()
        .filter(|c| !ours.iter().any(|(t, _)| c.type_ == *t))
        .cloned()
        .collect();
    conditions.extend(ours.iter().map(|(type_, c)| {
        let previous = find(existing, type_);
        condition(type_, c, report.generation, previous, stamp)
    }));
    let changed = !same_elements(existing, &conditions);
    changed.then_some(XBackendStatus {
        conditions: Some(conditions),
    })
}

/// The ancestor an entry is about: the target itself, in the policy's namespace.
pub fn ancestor_ref(namespace: &str, target: &TargetReport) -> ParentReference {
    ParentReference {
        group: Some(target.target.group.clone()),
        kind: Some(target.target.kind.clone()),
        namespace: Some(namespace.to_owned()),
        name: target.target.name.clone(),
        section_name: None,
        port: None,
    }
}

fn condition(
    type_: &str,
    c: &agentnet_policy::Condition,
    generation: Option<i64>,
    previous: Option<&Condition>,
    stamp: &Stamp<'_>,
) -> Condition {
    let status = if c.status { "True" } else { "False" };
    let last_transition_time = previous
        .filter(|p| p.status == status)
        .map_or_else(|| stamp.now.clone(), |p| p.last_transition_time.clone());
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: c.reason.as_str().to_owned(),
        message: bounded(&c.message),
        observed_generation: generation,
        last_transition_time,
    }
}

fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// The message, cut at a character boundary to the API's limit.
fn bounded(message: &str) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.to_owned();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_owned()
}

/// Equal as multisets: a reordering alone is no reason to write.
fn same_elements<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    let count = |xs: &[T], x: &T| xs.iter().filter(|y| *y == x).count();
    a.len() == b.len() && a.iter().all(|x| count(a, x) == count(b, x))
}

#[cfg(test)]
mod tests;
