//! RateLimitPolicies onto their XBackends: each limit's source, scope, key and rate
//! compiled. A policy that cannot be enforced as written is reported `Invalid` and
//! limits nothing (the API server's validation rejects such objects, so only
//! standalone YAML gets here).

use std::collections::HashMap;
use std::sync::Arc;

use agentnet_api::agentnet_dev::{LimitEnforcement, LimitKey, RateLimit as Spec, RateLimitPolicy};

use super::policy::compile_source;
use super::resolve_target;
use crate::index::Backend;
use crate::ratelimit::{KeyBy, RateLimit, Scope, parse_period};
use crate::report::{Condition, PolicyReport, Reason, TargetReport};
use crate::request::{A2aMethod, BackendRef};
use crate::rule::{PolicyRef, SourceMatch};

/// Attaches every policy's limits to its targets; one report per policy.
pub(super) fn attach_all(
    policies: &[RateLimitPolicy],
    trust_domain: &str,
    by_name: &HashMap<BackendRef, usize>,
    backends: &mut [Backend],
) -> Vec<PolicyReport> {
    let mut reports: Vec<PolicyReport> = policies
        .iter()
        .map(|p| attach(p, trust_domain, by_name, backends))
        .collect();
    reports.sort_by(|a, b| a.policy.cmp(&b.policy));
    reports
}

fn attach(
    p: &RateLimitPolicy,
    trust_domain: &str,
    by_name: &HashMap<BackendRef, usize>,
    backends: &mut [Backend],
) -> PolicyReport {
    let namespace = p.metadata.namespace.as_deref().unwrap_or("default");
    let id = PolicyRef::new(namespace, p.metadata.name.as_deref().unwrap_or_default());
    let limits: Result<Vec<Arc<RateLimit>>, String> = p
        .spec
        .limits
        .iter()
        .map(|l| compile_limit(&id, l, trust_domain).map(Arc::new))
        .collect();
    let targets = p.spec.target_refs.iter().map(|target| {
        let found = resolve_target(namespace, target, by_name);
        TargetReport {
            target: target.clone(),
            accepted: target_condition(&limits, found, backends),
        }
    });
    PolicyReport {
        policy: id.clone(),
        generation: p.metadata.generation,
        accepted: limits.is_ok(),
        targets: targets.collect(),
        resolved_refs: None,
    }
}

/// Attaches the limits to the target when both are valid; the target's condition.
fn target_condition(
    limits: &Result<Vec<Arc<RateLimit>>, String>,
    found: Result<usize, String>,
    backends: &mut [Backend],
) -> Condition {
    match (limits, found) {
        (Err(why), _) => Condition::failed(Reason::Invalid, why.clone()),
        (Ok(_), Err(why)) => Condition::failed(Reason::TargetNotFound, why),
        (Ok(ls), Ok(i)) => {
            backends[i].rate_limits.extend(ls.iter().cloned());
            Condition::ok(Reason::Accepted, "RateLimitPolicy accepted for target")
        }
    }
}

fn compile_limit(policy: &PolicyRef, l: &Spec, trust_domain: &str) -> Result<RateLimit, String> {
    let invalid = |why: String| format!("limit {}: {why}", l.name);
    let source = match &l.source {
        None => SourceMatch::Any,
        Some(s) => compile_source(s, &policy.namespace, trust_domain).map_err(invalid)?,
    };
    // int32 in the API, as Kubernetes counts are; the schema keeps them positive.
    let positive = |n: i32| u32::try_from(n).ok().filter(|n| *n > 0);
    let (Some(requests), Some(burst)) = (
        positive(l.requests),
        positive(l.burst.unwrap_or(l.requests)),
    ) else {
        return Err(invalid("requests and burst must be at least 1".into()));
    };
    Ok(RateLimit {
        policy: policy.clone(),
        name: l.name.clone(),
        source,
        scope: scope(l).map_err(invalid)?,
        key_by: key_by(l.key_by.as_deref()),
        requests,
        period: parse_period(&l.period).map_err(invalid)?,
        burst,
        global: l.enforcement == Some(LimitEnforcement::Global),
    })
}

fn scope(l: &Spec) -> Result<Scope, String> {
    let names = |v: &Option<Vec<agentnet_api::agentnet_dev::LimitName>>| {
        v.as_ref()
            .map(|v| v.iter().map(|n| n.0.clone()).collect::<Vec<_>>())
    };
    Ok(match (&l.mcp, &l.a2a) {
        (Some(_), Some(_)) => return Err("mcp and a2a are mutually exclusive".into()),
        (Some(m), None) => Scope::Mcp {
            methods: names(&m.methods),
            tools: names(&m.tools),
        },
        (None, Some(a)) => Scope::A2a {
            methods: a
                .methods
                .as_ref()
                .map(|ms| ms.iter().map(|m| A2aMethod::parse(&m.0)).collect()),
            skills: names(&a.skills),
        },
        (None, None) => Scope::Any,
    })
}

fn key_by(keys: Option<&[LimitKey]>) -> KeyBy {
    let keys = keys.unwrap_or(&[LimitKey::Source]);
    let has = |k: LimitKey| keys.contains(&k);
    KeyBy {
        source: has(LimitKey::Source),
        method: has(LimitKey::Method),
        tool: has(LimitKey::Tool),
        skill: has(LimitKey::Skill),
    }
}
