//! RateLimitPolicy status: one ancestor per target with `Accepted`, exactly as an
//! XAccessPolicy's (the two statuses have one shape), so the same pure merging applies.

use agentnet_api::agentnet_dev::RateLimitPolicyStatus;
use agentnet_api::v1alpha1::XAccessPolicyStatus;
use agentnet_policy::PolicyReport;

use super::conditions::{Stamp, policy_status};

/// The RateLimitPolicy status to write, if it differs from `current`.
pub fn rate_limit_status(
    report: &PolicyReport,
    current: Option<&RateLimitPolicyStatus>,
    stamp: &Stamp<'_>,
) -> Option<RateLimitPolicyStatus> {
    let current = current.map(|s| XAccessPolicyStatus {
        ancestors: s.ancestors.clone(),
    });
    policy_status(report, current.as_ref(), stamp).map(|s| RateLimitPolicyStatus {
        ancestors: s.ancestors,
    })
}

#[cfg(test)]
mod tests {
    use agentnet_api::gateway::LocalPolicyTargetReference;
    use agentnet_policy::{Condition, PolicyRef, Reason, TargetReport};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    #[test]
    fn rate_limit_policies_get_one_accepted_ancestor_per_target_and_no_rewrite() {
        let target = LocalPolicyTargetReference {
            group: "agentic.networking.x-k8s.io".into(),
            kind: "XBackend".into(),
            name: "mcp".into(),
            section_name: None,
        };
        let report = PolicyReport {
            policy: PolicyRef::new("tools", "calls"),
            generation: Some(2),
            accepted: false,
            targets: vec![TargetReport {
                target,
                accepted: Condition::failed(Reason::TargetNotFound, "XBackend tools/mcp not found"),
            }],
            resolved_refs: None,
        };
        let stamp = Stamp {
            controller_name: "agentnet.dev/policy-controller",
            now: Time(Timestamp::UNIX_EPOCH),
        };
        let status = rate_limit_status(&report, None, &stamp).unwrap();
        let condition = &status.ancestors[0].conditions[0];
        assert_eq!(
            (
                condition.type_.as_str(),
                condition.status.as_str(),
                condition.reason.as_str()
            ),
            ("Accepted", "False", "TargetNotFound")
        );
        assert_eq!(
            status.ancestors[0].ancestor_ref.namespace.as_deref(),
            Some("tools")
        );
        assert_eq!(rate_limit_status(&report, Some(&status), &stamp), None);
    }
}
