//! Upstream's per-target limits: at most 5 policies per target, and at most 1
//! ExternalAuth policy, by seniority (creationTimestamp, then name). A policy over a
//! limit on any one of its targets is rejected on all of them.

use std::cmp::Ordering;
use std::collections::HashMap;

use agentnet_api::gateway::LocalPolicyTargetReference;
use agentnet_api::v1alpha1::{PolicyAction, XAccessPolicy};

/// Upstream's `MaxAccessPoliciesPerTarget`.
pub const MAX_POLICIES_PER_TARGET: usize = 5;

/// A target, by namespace, group, kind and name (`sectionName` is ignored, as upstream).
type TargetKey<'a> = (&'a str, &'a str, &'a str, &'a str);

/// For each policy (same order), upstream's LimitPerTargetExceeded message if any.
pub(super) fn limits(policies: &[XAccessPolicy]) -> Vec<Option<String>> {
    let mut by_target: HashMap<TargetKey<'_>, Vec<usize>> = HashMap::new();
    for (i, p) in policies.iter().enumerate() {
        for target in distinct_targets(p) {
            by_target.entry(key(p, target)).or_default().push(i);
        }
    }
    for group in by_target.values_mut() {
        group.sort_by(|a, b| seniority(&policies[*a], &policies[*b]));
    }
    let limit = |i: usize| -> Option<String> {
        let p = &policies[i];
        distinct_targets(p).find_map(|target| {
            let group = &by_target[&key(p, target)];
            let seniors = &group[..group.iter().position(|j| *j == i).unwrap_or(group.len())];
            over_limit(p, seniors.iter().map(|j| &policies[*j]), &target.name)
        })
    };
    (0..policies.len()).map(limit).collect()
}

fn over_limit<'a>(
    policy: &XAccessPolicy,
    mut seniors: impl ExactSizeIterator<Item = &'a XAccessPolicy>,
    target: &str,
) -> Option<String> {
    if seniors.len() >= MAX_POLICIES_PER_TARGET {
        return Some(format!(
            "Maximum number of AccessPolicies ({MAX_POLICIES_PER_TARGET}) exceeded for target {target}"
        ));
    }
    let external = |p: &XAccessPolicy| p.spec.action == PolicyAction::ExternalAuth;
    (external(policy) && seniors.any(external))
        .then(|| format!("An older ExternalAuth AccessPolicy already exists for target {target}"))
}

/// Older first: creationTimestamp (absent sorts first, as Go's zero time), then name.
pub(super) fn seniority(a: &XAccessPolicy, b: &XAccessPolicy) -> Ordering {
    let created = |p: &XAccessPolicy| p.metadata.creation_timestamp.clone();
    created(a)
        .cmp(&created(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Each target once, in spec order: a policy naming a target twice is one policy on it.
pub(super) fn distinct_targets(
    p: &XAccessPolicy,
) -> impl Iterator<Item = &LocalPolicyTargetReference> {
    let refs = &p.spec.target_refs;
    refs.iter()
        .enumerate()
        .filter(|(i, t)| !refs[..*i].iter().any(|u| same_target(t, u)))
        .map(|(_, t)| t)
}

fn same_target(a: &LocalPolicyTargetReference, b: &LocalPolicyTargetReference) -> bool {
    (&a.group, &a.kind, &a.name) == (&b.group, &b.kind, &b.name)
}

fn key<'a>(p: &'a XAccessPolicy, t: &'a LocalPolicyTargetReference) -> TargetKey<'a> {
    (
        p.metadata.namespace.as_deref().unwrap_or_default(),
        &t.group,
        &t.kind,
        &t.name,
    )
}
