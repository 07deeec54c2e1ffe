//! The `Programmed` condition of each XAccessPolicy (GEP-713; upstream's proposal for
//! XAccessPolicy): true once every connected sidecar the policy's current generation
//! can apply to holds it, as every live replica reports (`distribution::progress`).
//! A replica whose report is not renewed for `STALE_AFTER` is gone and not counted
//! (its sidecars reconnect to another); with no live report at all (no policy service
//! running) the condition is not set. Messages carry no counts, so the condition is
//! rewritten only when it flips (counts are in `proxy-status`).

use std::collections::HashMap;
use std::time::Duration;

use agentnet_policy::{Condition, PolicyRef, Reason, Report};

use crate::distribution::progress::Progress;

/// Three missed renewals.
pub const STALE_AFTER: Duration = Duration::from_secs(30);
/// Reports of replicas gone this long are deleted.
pub const REMOVE_AFTER: Duration = Duration::from_secs(600);

/// Per accepted or rejected policy of `report`, its `Programmed` condition at `now`
/// (Unix seconds); empty when no replica reports.
pub fn conditions(
    report: &Report,
    reports: &[(String, Progress)],
    now: u64,
) -> HashMap<PolicyRef, Condition> {
    let live: Vec<&Progress> = reports
        .iter()
        .map(|(_, p)| p)
        .filter(|p| now.saturating_sub(p.renewed) <= STALE_AFTER.as_secs())
        .collect();
    if live.is_empty() {
        return HashMap::new();
    }
    report
        .policies
        .iter()
        .map(|p| {
            let generation = p.generation.unwrap_or_default();
            let condition = if !p.accepted {
                let rejected = p.targets.iter().find(|t| !t.accepted.status);
                Condition::failed(
                    rejected.map_or(Reason::Invalid, |t| t.accepted.reason),
                    "not programmed: the policy is not accepted",
                )
            } else if programmed(&live, &p.policy.to_string(), generation) {
                Condition::ok(
                    Reason::Programmed,
                    format!("generation {generation} is in force in every connected sidecar it applies to"),
                )
            } else {
                Condition::failed(
                    Reason::Pending,
                    format!("generation {generation} is not yet in force in every connected sidecar it applies to (agentnet-webhook proxy-status lists them)"),
                )
            };
            (p.policy.clone(), condition)
        })
        .collect()
}

/// Every live replica serves `generation` (or later) of the policy, and each of its
/// sidecars the policy applies to holds it.
fn programmed(live: &[&Progress], key: &str, generation: i64) -> bool {
    live.iter().all(|r| {
        r.policies
            .get(key)
            .is_some_and(|p| p.generation >= generation && p.programmed == p.affected)
    })
}

/// Reports of replicas gone for `REMOVE_AFTER`, by name.
pub fn expired(reports: &[(String, Progress)], now: u64) -> Vec<String> {
    reports
        .iter()
        .filter(|(_, p)| now.saturating_sub(p.renewed) > REMOVE_AFTER.as_secs())
        .map(|(name, _)| name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use agentnet_api::gateway::LocalPolicyTargetReference;
    use agentnet_policy::{Condition as Outcome, PolicyReport, TargetReport};

    use super::*;
    use crate::distribution::progress::PolicyProgress;

    fn policy(name: &str, generation: i64, accepted: Outcome) -> PolicyReport {
        PolicyReport {
            policy: PolicyRef::new("agents", name),
            generation: Some(generation),
            accepted: accepted.status,
            targets: vec![TargetReport {
                target: LocalPolicyTargetReference {
                    group: "agentic.networking.x-k8s.io".into(),
                    kind: "XBackend".into(),
                    name: "tools".into(),
                    section_name: None,
                },
                accepted,
            }],
            resolved_refs: None,
        }
    }

    fn report() -> Report {
        Report {
            policies: vec![
                policy("ok", 3, Outcome::ok(Reason::Accepted, "ok")),
                policy("lost", 1, Outcome::failed(Reason::TargetNotFound, "no")),
            ],
            ..Report::default()
        }
    }

    fn replica(
        renewed: u64,
        generation: i64,
        affected: u32,
        programmed: u32,
    ) -> (String, Progress) {
        let policies = BTreeMap::from([(
            "agents/ok".to_owned(),
            PolicyProgress {
                generation,
                affected,
                programmed,
            },
        )]);
        (format!("r{renewed}"), Progress { renewed, policies })
    }

    fn ok(reports: &[(String, Progress)]) -> Condition {
        let all = conditions(&report(), reports, 1_000);
        all[&PolicyRef::new("agents", "ok")].clone()
    }

    #[test]
    fn programmed_once_every_live_replica_has_every_affected_sidecar_on_the_generation() {
        let c = ok(&[replica(995, 3, 2, 2), replica(990, 3, 0, 0)]);
        assert_eq!((c.status, c.reason), (true, Reason::Programmed));
        assert!(c.message.contains("generation 3"), "{}", c.message);
        // One sidecar behind on one replica.
        let c = ok(&[replica(995, 3, 2, 1), replica(990, 3, 0, 0)]);
        assert_eq!((c.status, c.reason), (false, Reason::Pending));
        // A replica that has not seen generation 3 yet.
        let c = ok(&[replica(995, 3, 2, 2), replica(990, 2, 1, 1)]);
        assert_eq!((c.status, c.reason), (false, Reason::Pending));
        // A replica gone (not renewed for 30 s) no longer counts.
        let c = ok(&[replica(995, 3, 2, 2), replica(960, 2, 1, 0)]);
        assert_eq!((c.status, c.reason), (true, Reason::Programmed));
    }

    #[test]
    fn not_accepted_is_not_programmed_and_no_report_sets_nothing() {
        let all = conditions(&report(), &[replica(995, 3, 0, 0)], 1_000);
        let lost = &all[&PolicyRef::new("agents", "lost")];
        assert_eq!((lost.status, lost.reason), (false, Reason::TargetNotFound));
        assert!(conditions(&report(), &[], 1_000).is_empty());
        assert!(conditions(&report(), &[replica(900, 3, 0, 0)], 1_000).is_empty());
    }

    #[test]
    fn reports_of_replicas_gone_for_ten_minutes_are_removed() {
        let reports = [replica(995, 3, 0, 0), replica(100, 3, 0, 0)];
        assert_eq!(expired(&reports, 1_000), ["r100"]);
    }
}
