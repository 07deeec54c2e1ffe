use agentnet_api::gateway::LocalPolicyTargetReference;
use agentnet_policy::{BackendRef, Condition as Outcome, PolicyRef, Reason};
use k8s_openapi::jiff::Timestamp;
use pretty_assertions::assert_eq;

use super::*;

const OURS: &str = "agentnet.dev/policy-controller";

fn at(second: i64) -> Time {
    Time(Timestamp::from_second(second).unwrap())
}

fn stamp(second: i64) -> Stamp<'static> {
    Stamp {
        controller_name: OURS,
        now: at(second),
    }
}

fn target(name: &str, accepted: Outcome) -> TargetReport {
    TargetReport {
        target: LocalPolicyTargetReference {
            group: "agentic.networking.x-k8s.io".into(),
            kind: "XBackend".into(),
            name: name.into(),
            section_name: None,
        },
        accepted,
    }
}

fn report(generation: i64, targets: Vec<TargetReport>) -> PolicyReport {
    PolicyReport {
        policy: PolicyRef::new("team", "allow-planner"),
        generation: Some(generation),
        accepted: targets.iter().all(|t| t.accepted.status),
        targets,
        resolved_refs: None,
    }
}

fn accepted() -> Outcome {
    Outcome::ok(Reason::Accepted, "AccessPolicy accepted for target")
}

fn over_limit() -> Outcome {
    Outcome::failed(
        Reason::LimitPerTargetExceeded,
        "Maximum number of AccessPolicies (5) exceeded for target tools",
    )
}

fn other_controller(name: &str) -> PolicyAncestorStatus {
    PolicyAncestorStatus {
        ancestor_ref: ParentReference {
            name: name.into(),
            ..ParentReference::default()
        },
        controller_name: "example.com/gateway".into(),
        conditions: vec![Condition {
            type_: "Accepted".into(),
            status: "True".into(),
            reason: "Accepted".into(),
            message: "theirs".into(),
            observed_generation: Some(1),
            last_transition_time: at(5),
        }],
    }
}

#[test]
fn writes_one_ancestor_per_target_naming_the_target_itself() {
    let r = report(
        3,
        vec![target("tools", accepted()), target("gone", over_limit())],
    );
    let status = policy_status(&r, None, &stamp(100)).unwrap();
    assert_eq!(status.ancestors.len(), 2);
    let first = &status.ancestors[0];
    assert_eq!(
        first.ancestor_ref,
        ParentReference {
            group: Some("agentic.networking.x-k8s.io".into()),
            kind: Some("XBackend".into()),
            namespace: Some("team".into()),
            name: "tools".into(),
            section_name: None,
            port: None,
        }
    );
    assert_eq!(first.controller_name, OURS);
    let c = &first.conditions[0];
    assert_eq!(
        (c.type_.as_str(), c.status.as_str(), c.reason.as_str()),
        ("Accepted", "True", "Accepted")
    );
    assert_eq!(
        (c.observed_generation, &c.last_transition_time),
        (Some(3), &at(100))
    );
    let c = &status.ancestors[1].conditions[0];
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "LimitPerTargetExceeded")
    );
    assert_eq!(
        c.message,
        "Maximum number of AccessPolicies (5) exceeded for target tools"
    );
}

#[test]
fn no_change_means_no_write() {
    let r = report(3, vec![target("tools", accepted())]);
    let written = policy_status(&r, None, &stamp(100)).unwrap();
    assert_eq!(policy_status(&r, Some(&written), &stamp(200)), None);

    let b = backend_report(true);
    let written = backend_status(&b, None, &stamp(100)).unwrap();
    let none = XBackendStatus { conditions: None };
    assert!(backend_status(&b, Some(&none), &stamp(100)).is_some());
    assert_eq!(backend_status(&b, Some(&written), &stamp(200)), None);
}

#[test]
fn other_controllers_ancestors_are_preserved() {
    let current = XAccessPolicyStatus {
        ancestors: vec![other_controller("gw"), other_controller("gw2")],
    };
    let r = report(1, vec![target("tools", accepted())]);
    let status = policy_status(&r, Some(&current), &stamp(100)).unwrap();
    assert_eq!(&status.ancestors[..2], &current.ancestors[..]);
    assert_eq!(status.ancestors[2].controller_name, OURS);
    // And once written, a reordering by someone else is no reason to write again.
    let mut reordered = status.clone();
    reordered.ancestors.rotate_left(1);
    assert_eq!(policy_status(&r, Some(&reordered), &stamp(200)), None);
}

#[test]
fn ours_give_way_when_the_ancestor_list_is_full() {
    let theirs: Vec<_> = (0..15)
        .map(|i| other_controller(&format!("gw{i}")))
        .collect();
    let current = XAccessPolicyStatus {
        ancestors: theirs.clone(),
    };
    let r = report(1, vec![target("a", accepted()), target("b", accepted())]);
    let status = policy_status(&r, Some(&current), &stamp(1)).unwrap();
    assert_eq!(status.ancestors.len(), MAX_ANCESTORS);
    assert_eq!(&status.ancestors[..15], &theirs[..]);
    assert_eq!(status.ancestors[15].ancestor_ref.name, "a");
}

#[test]
fn transition_time_moves_only_when_status_flips() {
    let accepted_at_100 = policy_status(
        &report(1, vec![target("tools", accepted())]),
        None,
        &stamp(100),
    )
    .unwrap();
    // A spec edit: new generation, same verdict: same transition time.
    let edited = policy_status(
        &report(2, vec![target("tools", accepted())]),
        Some(&accepted_at_100),
        &stamp(200),
    )
    .unwrap();
    let c = &edited.ancestors[0].conditions[0];
    assert_eq!(
        (c.observed_generation, &c.last_transition_time),
        (Some(2), &at(100))
    );
    // The verdict flips: the time moves.
    let rejected = policy_status(
        &report(2, vec![target("tools", over_limit())]),
        Some(&edited),
        &stamp(300),
    )
    .unwrap();
    let c = &rejected.ancestors[0].conditions[0];
    assert_eq!(
        (c.status.as_str(), &c.last_transition_time),
        ("False", &at(300))
    );
}

#[test]
fn ancestors_of_removed_targets_are_dropped() {
    let both = report(1, vec![target("a", accepted()), target("b", accepted())]);
    let current = policy_status(&both, None, &stamp(1)).unwrap();
    let only_b = report(2, vec![target("b", accepted())]);
    let status = policy_status(&only_b, Some(&current), &stamp(2)).unwrap();
    let names: Vec<_> = status
        .ancestors
        .iter()
        .map(|a| &a.ancestor_ref.name)
        .collect();
    assert_eq!(names, ["b"]);
}

fn backend_report(service_exists: bool) -> BackendReport {
    let resolved = if service_exists {
        Outcome::ok(Reason::ResolvedRefs, "All references resolved")
    } else {
        Outcome::failed(Reason::BackendNotFound, "Service team/tools not found")
    };
    BackendReport {
        backend: BackendRef::new("team", "tools"),
        generation: Some(4),
        accepted: Outcome::ok(Reason::Accepted, "XBackend accepted"),
        resolved_refs: resolved,
    }
}

#[test]
fn backend_gets_accepted_and_resolved_refs_keeping_other_types() {
    let foreign = Condition {
        type_: "Programmed".into(),
        status: "True".into(),
        reason: "Programmed".into(),
        message: "by someone else".into(),
        observed_generation: Some(4),
        last_transition_time: at(1),
    };
    let current = XBackendStatus {
        conditions: Some(vec![foreign.clone()]),
    };
    let status = backend_status(&backend_report(false), Some(&current), &stamp(10)).unwrap();
    let conditions = status.conditions.unwrap();
    assert_eq!(conditions[0], foreign);
    let summary: Vec<_> = conditions[1..]
        .iter()
        .map(|c| {
            (
                c.type_.as_str(),
                c.status.as_str(),
                c.reason.as_str(),
                c.observed_generation,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("Accepted", "True", "Accepted", Some(4)),
            ("ResolvedRefs", "False", "BackendNotFound", Some(4)),
        ]
    );
    assert_eq!(conditions[2].message, "Service team/tools not found");
}

#[test]
fn long_messages_are_cut_at_a_character_boundary() {
    let long = "é".repeat(MAX_MESSAGE_BYTES);
    let cut = bounded(&long);
    assert!(cut.len() <= MAX_MESSAGE_BYTES && cut.len() >= MAX_MESSAGE_BYTES - 1);
    assert!(cut.chars().all(|c| c == 'é'));
    assert_eq!(bounded("short"), "short");
}
