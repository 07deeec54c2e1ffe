//! One caller's view of the cluster's policy: what the control plane sends a sidecar.
//!
//! A sidecar decides for one identity (its own, outbound) and, inbound, for the callers
//! of the XBackends its pod serves. It therefore needs every XBackend (to recognize
//! destinations), the Services and EndpointSlices those backends and their authorizers
//! name, and every policy on every target, because whether a target has an Allow policy
//! at all, and which five policies are senior on it, changes the decision even when no
//! rule of a policy admits the caller. What it does not need is the content of rules
//! that can only admit other identities. [`view`] keeps the policies and replaces such
//! rules by a placeholder that keeps the rule's name (denials and `explain` name rules)
//! and can match no caller, so compiling the view decides every request of this caller
//! exactly as compiling the whole snapshot does, while the view reveals only that
//! another rule exists.
//!
//! A policy the whole snapshot rejects for its content (`InvalidCEL`, `Invalid`) must
//! stay rejected in the view, or a redacted view would make it accepted. Its rules
//! become one rule whose source the compiler rejects.

use std::collections::HashSet;

use agentnet_api::v1alpha1::{AccessRule, AccessRuleSource, SourceType, XAccessPolicy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::compile::{Snapshot, compile_source};
use crate::report::{Reason, Report};
use crate::request::BackendRef;
use crate::rule::{PolicyRef, SourceMatch};

/// The SPIFFE ID of a redacted rule's source: in a trust domain no workload can be in
/// (`.invalid` is reserved, RFC 2606), so it matches no caller.
pub const REDACTED_SOURCE: &str = "spiffe://agentnet.invalid/redacted";

/// Who the view is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Caller {
    /// The caller's own SPIFFE ID: rules for it are kept.
    pub spiffe_id: String,
    /// XBackends the caller's pod serves (its inbound listener decides for their
    /// callers): every rule of the policies on them is kept. Sorted, so that callers with
    /// the same identity and backends share a view.
    pub serves: Vec<BackendRef>,
}

/// One message of the policy stream (`GET /v1/policy/view`), one JSON object per line.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ViewMessage {
    /// A whole view; it replaces the previous one.
    #[serde(rename_all = "camelCase")]
    View {
        /// Digest of the view: equal views have equal versions.
        version: String,
        /// The control plane's snapshot generation the view was cut from.
        generation: u64,
        snapshot: Snapshot,
    },
    /// Nothing changed; the stream is alive and the last view is current.
    #[serde(rename_all = "camelCase")]
    Heartbeat { version: String, generation: u64 },
}

/// `caller`'s view of `full`, whose compiled report is `report`. The Services and
/// EndpointSlices of `full` are passed on as they are: the control plane gives only
/// those that backends and authorizers name. Status, `resourceVersion` and managed
/// fields are dropped: no decision reads them, and status writes would otherwise change
/// every view.
pub fn view(full: &Snapshot, report: &Report, caller: &Caller, trust_domain: &str) -> Snapshot {
    let invalid: HashSet<&PolicyRef> = report
        .policies
        .iter()
        .filter(|p| {
            p.targets
                .iter()
                .any(|t| matches!(t.accepted.reason, Reason::InvalidCel | Reason::Invalid))
        })
        .map(|p| &p.policy)
        .collect();
    let policies = full.policies.iter().map(|p| {
        let id = PolicyRef::of(p);
        if invalid.contains(&id) {
            rejected(p)
        } else if serves_target(p, &id.namespace, &caller.serves) {
            bare(p.clone(), |p| (&mut p.metadata, &mut p.status))
        } else {
            redacted(p, &id.namespace, &caller.spiffe_id, trust_domain)
        }
    });
    let rate_limits = full.rate_limits.iter().filter_map(|r| {
        let namespace = r.metadata.namespace.as_deref().unwrap_or("default");
        let serves = r.spec.target_refs.iter().any(|t| {
            caller
                .serves
                .iter()
                .any(|b| b.namespace == namespace && b.name == t.name)
        });
        let mut r = bare(r.clone(), |r| (&mut r.metadata, &mut r.status));
        if !serves {
            // A limit on another source never applies to this caller; one whose source
            // does not compile is kept, so the policy stays rejected as a whole.
            r.spec.limits.retain(|l| match &l.source {
                Some(s) => match compile_source(s, namespace, trust_domain) {
                    Ok(SourceMatch::Spiffe(id)) => id == caller.spiffe_id,
                    Ok(SourceMatch::Any) | Err(_) => true,
                },
                None => true,
            });
        }
        (!r.spec.limits.is_empty()).then_some(r)
    });
    Snapshot {
        backends: full
            .backends
            .iter()
            .map(|b| bare(b.clone(), |b| (&mut b.metadata, &mut b.status)))
            .collect(),
        policies: policies.collect(),
        services: full
            .services
            .iter()
            .map(|s| bare(s.clone(), |s| (&mut s.metadata, &mut s.status)))
            .collect(),
        endpoint_slices: full
            .endpoint_slices
            .iter()
            .map(|e| {
                let mut e = e.clone();
                strip(&mut e.metadata);
                e
            })
            .collect(),
        rate_limits: rate_limits.collect(),
        reference_grants: full
            .reference_grants
            .iter()
            .map(|g| {
                let mut g = g.clone();
                strip(&mut g.metadata);
                g
            })
            .collect(),
    }
}

/// Whether one of `p`'s targets is an XBackend the caller serves.
fn serves_target(p: &XAccessPolicy, namespace: &str, serves: &[BackendRef]) -> bool {
    p.spec.target_refs.iter().any(|t| {
        serves
            .iter()
            .any(|b| b.namespace == namespace && b.name == t.name)
    })
}

/// `p` with each rule that only another identity can match replaced by a placeholder.
fn redacted(p: &XAccessPolicy, namespace: &str, caller: &str, trust_domain: &str) -> XAccessPolicy {
    let mut p = bare(p.clone(), |p| (&mut p.metadata, &mut p.status));
    for rule in p.spec.rules.iter_mut().flatten() {
        let Some(source) = &rule.source else { continue };
        // A source that does not compile would reject the policy: the report said it
        // does not, so every source here compiles.
        if let Ok(SourceMatch::Spiffe(id)) = compile_source(source, namespace, trust_domain)
            && id != caller
        {
            *rule = placeholder(std::mem::take(&mut rule.name));
        }
    }
    p
}

/// Whether a policy, as a view holds it, can apply to the view's caller: it keeps at
/// least one rule unredacted (a rule for this caller, for callers by namespace or for
/// any caller, or every rule of a backend the caller serves). Redacted rules and
/// rejected policies do not apply.
pub fn applies(p: &XAccessPolicy) -> bool {
    // A rule without a source admits any caller; the rejected form's source has no type.
    p.spec.rules.iter().flatten().any(|rule| {
        rule.source
            .as_ref()
            .is_none_or(|s| s.type_.is_some() && s.spiffe.as_deref() != Some(REDACTED_SOURCE))
    })
}

/// A policy that is rejected for everyone, with no rule's content.
fn rejected(p: &XAccessPolicy) -> XAccessPolicy {
    let mut p = bare(p.clone(), |p| (&mut p.metadata, &mut p.status));
    p.spec.rules = Some(vec![AccessRule {
        name: "redacted".into(),
        // No `type`: the compiler rejects this source (and so the policy).
        source: Some(AccessRuleSource::default()),
        authorization: None,
    }]);
    p
}

fn placeholder(name: String) -> AccessRule {
    AccessRule {
        name,
        source: Some(AccessRuleSource {
            type_: Some(SourceType::Spiffe),
            spiffe: Some(REDACTED_SOURCE.into()),
            service_account: None,
        }),
        authorization: None,
    }
}

/// `o` without status and bookkeeping metadata.
fn bare<T, S>(mut o: T, parts: impl FnOnce(&mut T) -> (&mut ObjectMeta, &mut Option<S>)) -> T {
    let (metadata, status) = parts(&mut o);
    strip(metadata);
    *status = None;
    o
}

fn strip(m: &mut ObjectMeta) {
    m.resource_version = None;
    m.managed_fields = None;
    if let Some(a) = m.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}
