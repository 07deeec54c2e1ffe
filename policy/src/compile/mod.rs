//! A snapshot of XBackends, XAccessPolicies, Services and EndpointSlices into an
//! [`Index`]. Compiling never fails as a whole: each object that fails is reported,
//! and never widens access.

mod admission;
mod backend;
mod extauth;
mod policy;
mod ratelimit;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use agentnet_api::agentnet_dev::RateLimitPolicy;
use agentnet_api::gateway::LocalPolicyTargetReference;
use agentnet_api::reference_grant::ReferenceGrant;
use agentnet_api::v0alpha0::XBackend;
use agentnet_api::v1alpha1::{PolicyAction, XAccessPolicy};
use agentnet_api::{GATEWAY_GROUP, GROUP};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::{Deserialize, Serialize};

pub use admission::MAX_POLICIES_PER_TARGET;
pub use extauth::DEFAULT_AUTHZ_PORT;

pub(crate) use self::policy::compile_source;
use self::policy::{PolicyError, compile_policy};
use crate::cel::CelCompiler;
use crate::index::{Backend, Index};
use crate::report::{Condition, PolicyReport, Reason, Report, TargetReport};
use crate::request::BackendRef;
use crate::rule::{Policy, PolicyRef, RuleKind};

/// The objects to compile, as a watch, a directory or the control plane's policy
/// stream delivers them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Snapshot {
    pub backends: Vec<XBackend>,
    pub policies: Vec<XAccessPolicy>,
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    /// agentnet.dev RateLimitPolicies.
    pub rate_limits: Vec<RateLimitPolicy>,
    /// Gateway API ReferenceGrants: they let an ExternalAuth backendRef cross namespaces.
    pub reference_grants: Vec<ReferenceGrant>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Of ServiceAccount sources' SPIFFE IDs; default `cluster.local`.
    pub trust_domain: String,
    /// Of Service DNS names; default `cluster.local`.
    pub cluster_domain: String,
    /// What an XBackend with no accepted Allow rule gets; upstream's default is Allow.
    pub backend_default: BackendDefault,
}

/// `allow` (upstream) or `deny` (zero trust): the decision for a backend that no
/// accepted Allow policy governs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendDefault {
    #[default]
    Allow,
    Deny,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid backend default {0:?}: expected allow or deny")]
pub struct BackendDefaultError(String);

/// How compiling went for one policy.
struct Outcome {
    rejection: Option<(Reason, String)>,
    policy: Option<Arc<Policy>>,
    /// ExternalAuth policies: whether the authorizer's backendRef resolved.
    resolved_refs: Option<Condition>,
}

/// Compiles the snapshot; see [`Index::report`] for what failed and why.
pub fn compile(snapshot: &Snapshot, settings: &Settings) -> Index {
    compile_using(snapshot, settings, CelCompiler::default())
}

/// Like [`compile`], reusing the CEL programs of `previous` (the index this one
/// replaces) whose expression text is unchanged: parsing CEL is most of compile time.
pub fn recompile(snapshot: &Snapshot, settings: &Settings, previous: &Index) -> Index {
    let rules = previous
        .backends
        .iter()
        .flat_map(|b| &b.policies)
        .flat_map(|p| &p.rules);
    let cel = rules.filter_map(|r| match &r.kind {
        RuleKind::Cel(cel) => Some(&**cel),
        _ => None,
    });
    compile_using(snapshot, settings, CelCompiler::reusing(cel))
}

fn compile_using(snapshot: &Snapshot, settings: &Settings, mut cel: CelCompiler) -> Index {
    let mut backends = backend::compile_backends(snapshot, settings);
    let by_name: HashMap<_, _> = backends
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| (b.id.clone(), i))
        .collect();
    let limits = admission::limits(&snapshot.policies);
    let mut reports = Vec::new();
    for (p, limit) in snapshot.policies.iter().zip(limits) {
        let outcome = compile_one(p, limit, snapshot, settings, &mut cel);
        reports.push(attach(p, outcome, &by_name, &mut backends.backends));
    }
    let rate_limits = ratelimit::attach_all(
        &snapshot.rate_limits,
        &settings.trust_domain,
        &by_name,
        &mut backends.backends,
    );
    backends.backends.iter_mut().for_each(finish_backend);
    reports.sort_by(|a, b| a.policy.cmp(&b.policy));
    Index {
        backends: backends.backends,
        by_name,
        by_authority: backends.by_authority,
        by_address: backends.by_address,
        cel: cel.finish(),
        settings: settings.clone(),
        report: Report {
            policies: reports,
            backends: backends.reports,
            rate_limits,
        },
        generation: 0,
    }
}

/// Limits first, as upstream checks them before CEL.
fn compile_one(
    p: &XAccessPolicy,
    limit: Option<String>,
    snapshot: &Snapshot,
    settings: &Settings,
    cel: &mut CelCompiler,
) -> Outcome {
    let rejected = |reason, message| Outcome {
        rejection: Some((reason, message)),
        policy: None,
        resolved_refs: None,
    };
    if let Some(message) = limit {
        return rejected(Reason::LimitPerTargetExceeded, message);
    }
    match compile_policy(p, &settings.trust_domain, cel) {
        Ok(mut policy) => {
            let resolved_refs = resolve_external_auth(&mut policy, snapshot, settings);
            Outcome {
                rejection: None,
                policy: Some(Arc::new(policy)),
                resolved_refs,
            }
        }
        Err(PolicyError::InvalidCel(m)) => rejected(Reason::InvalidCel, m),
        Err(PolicyError::Invalid(m)) => rejected(Reason::Invalid, m),
    }
}

/// Resolves an ExternalAuth policy's authorizer (kept on the policy, so requests it
/// covers fail closed when it did not resolve) and returns its `ResolvedRefs`.
fn resolve_external_auth(
    policy: &mut Policy,
    snapshot: &Snapshot,
    settings: &Settings,
) -> Option<Condition> {
    let filter = policy.external_auth.as_ref()?;
    let resolved = extauth::resolve(filter, &policy.id.namespace, snapshot, settings);
    let condition = extauth::condition(&resolved);
    policy.external_auth_service = Some(Arc::new(resolved.map_err(|(_, why)| why)));
    Some(condition)
}

/// Puts the policy on its backends (or, rejected, marks them fail-closed) and reports
/// one condition per target.
fn attach(
    p: &XAccessPolicy,
    outcome: Outcome,
    by_name: &HashMap<BackendRef, usize>,
    backends: &mut [Backend],
) -> PolicyReport {
    let id = PolicyRef::of(p);
    let mut targets = Vec::new();
    for target in admission::distinct_targets(p) {
        let found = resolve_target(&id.namespace, target, by_name);
        if let Ok(i) = found {
            match &outcome.policy {
                Some(policy) => backends[i].policies.push(policy.clone()),
                None => backends[i].rejected.push(id.clone()),
            }
        }
        let accepted = target_condition(&outcome, found);
        targets.push(TargetReport {
            target: target.clone(),
            accepted,
        });
    }
    PolicyReport {
        policy: id,
        generation: p.metadata.generation,
        accepted: outcome.rejection.is_none(),
        targets,
        resolved_refs: outcome.resolved_refs,
    }
}

/// A rejection applies to every target; otherwise each target is found or not.
fn target_condition(outcome: &Outcome, found: Result<usize, String>) -> Condition {
    match (&outcome.rejection, found) {
        (Some((reason, message)), _) => Condition::failed(*reason, message.clone()),
        (None, Ok(_)) => Condition::ok(Reason::Accepted, "AccessPolicy accepted for target"),
        (None, Err(why)) => Condition::failed(Reason::TargetNotFound, why),
    }
}

fn resolve_target(
    namespace: &str,
    t: &LocalPolicyTargetReference,
    by_name: &HashMap<BackendRef, usize>,
) -> Result<usize, String> {
    match (t.group.as_str(), t.kind.as_str()) {
        (GROUP, "XBackend") => by_name
            .get(&BackendRef::new(namespace, &t.name))
            .copied()
            .ok_or_else(|| format!("XBackend {namespace}/{} not found", t.name)),
        (GATEWAY_GROUP, "Gateway") => Err(format!(
            "Gateway {namespace}/{} is not enforced: agentnet enforces policies in each caller's sidecar; target the XBackends instead",
            t.name
        )),
        (group, kind) => Err(format!("unsupported target kind {kind}.{group}")),
    }
}

/// Upstream's order (ExternalAuth first, then creationTimestamp, then name) and the CEL
/// variables the backend's rules read.
fn finish_backend(b: &mut Backend) {
    b.policies.sort_by(|x, y| {
        let external = |p: &Policy| p.action != PolicyAction::ExternalAuth;
        (external(x), &x.created, &x.id.name).cmp(&(external(y), &y.created, &y.id.name))
    });
    b.rejected.sort();
    let cel = b
        .policies
        .iter()
        .flat_map(|p| &p.rules)
        .filter_map(|r| match &r.kind {
            RuleKind::Cel(cel) => Some(cel.needs),
            _ => None,
        });
    b.cel_needs = cel.fold(b.cel_needs, |all, n| all.union(n));
}

// === impl Settings ===

impl Default for Settings {
    fn default() -> Self {
        Settings {
            trust_domain: agentnet_api::contract::DEFAULT_TRUST_DOMAIN.to_owned(),
            cluster_domain: "cluster.local".to_owned(),
            backend_default: BackendDefault::Allow,
        }
    }
}

// === impl BackendDefault ===

impl FromStr for BackendDefault {
    type Err = BackendDefaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" => Ok(BackendDefault::Allow),
            "deny" => Ok(BackendDefault::Deny),
            other => Err(BackendDefaultError(other.to_owned())),
        }
    }
}
