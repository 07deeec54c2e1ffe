//! What compiling found, per object: the conditions a status writer puts on each
//! XAccessPolicy ancestor (one per target) and on each XBackend.

use agentnet_api::gateway::LocalPolicyTargetReference;
use serde::Serialize;

use crate::request::BackendRef;
use crate::rule::PolicyRef;

/// Condition types, as upstream and Gateway API name them.
pub const ACCEPTED: &str = "Accepted";
pub const RESOLVED_REFS: &str = "ResolvedRefs";
/// Whether the policy is in force in the sidecars it applies to (GEP-713's
/// `Programmed`; upstream's proposal for XAccessPolicy).
pub const PROGRAMMED: &str = "Programmed";

/// Per-object outcomes, policies and backends each sorted by namespace and name.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub policies: Vec<PolicyReport>,
    pub backends: Vec<BackendReport>,
    /// RateLimitPolicies (agentnet.dev), reported like XAccessPolicies.
    pub rate_limits: Vec<PolicyReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReport {
    pub policy: PolicyRef,
    /// `metadata.generation`, for `observedGeneration`.
    pub generation: Option<i64>,
    /// Whether the policy is in force (on its resolved targets).
    pub accepted: bool,
    /// One per distinct targetRef, in spec order: the ancestor's `Accepted` condition.
    pub targets: Vec<TargetReport>,
    /// ExternalAuth policies: whether the authorizer's `backendRef` resolved (the
    /// ancestor's `ResolvedRefs`); `None` for other policies.
    pub resolved_refs: Option<Condition>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetReport {
    pub target: LocalPolicyTargetReference,
    pub accepted: Condition,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendReport {
    pub backend: BackendRef,
    pub generation: Option<i64>,
    pub accepted: Condition,
    pub resolved_refs: Condition,
}

/// A condition's status, reason and message; the writer adds type, time and generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub status: bool,
    pub reason: Reason,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Reason {
    Accepted,
    /// More than 5 policies, or more than 1 ExternalAuth policy, on a target.
    LimitPerTargetExceeded,
    #[serde(rename = "InvalidCEL")]
    InvalidCel,
    /// The target is not an XBackend in the policy's namespace (agentnet enforces at
    /// the caller's sidecar and has no Gateway to attach to).
    TargetNotFound,
    /// A policy or backend agentnet cannot enforce as written (a bad regex, a source
    /// type without its member, an XBackend without exactly one destination).
    Invalid,
    /// Another XBackend, older, already claims the same destination.
    Conflicted,
    ResolvedRefs,
    /// The Service an XBackend (or an ExternalAuth backendRef) names does not exist.
    BackendNotFound,
    /// A reference to another namespace without a ReferenceGrant allowing it.
    RefNotPermitted,
    /// A reference to a kind that is not supported (an ExternalAuth backendRef must
    /// be a Service).
    InvalidKind,
    /// Every connected sidecar it applies to holds its current generation.
    Programmed,
    /// Some connected sidecar it applies to does not hold its current generation yet
    /// (or a replica has not reported since it changed).
    Pending,
}

// === impl Reason ===

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Accepted => "Accepted",
            Reason::LimitPerTargetExceeded => "LimitPerTargetExceeded",
            Reason::InvalidCel => "InvalidCEL",
            Reason::TargetNotFound => "TargetNotFound",
            Reason::Invalid => "Invalid",
            Reason::Conflicted => "Conflicted",
            Reason::ResolvedRefs => "ResolvedRefs",
            Reason::BackendNotFound => "BackendNotFound",
            Reason::RefNotPermitted => "RefNotPermitted",
            Reason::InvalidKind => "InvalidKind",
            Reason::Programmed => "Programmed",
            Reason::Pending => "Pending",
        }
    }
}

// === impl Condition ===

impl Condition {
    pub fn ok(reason: Reason, message: impl Into<String>) -> Self {
        Condition {
            status: true,
            reason,
            message: message.into(),
        }
    }

    pub fn failed(reason: Reason, message: impl Into<String>) -> Self {
        Condition {
            status: false,
            reason,
            message: message.into(),
        }
    }
}

// === impl Report ===

impl Report {
    pub fn policy(&self, namespace: &str, name: &str) -> Option<&PolicyReport> {
        self.policies
            .iter()
            .find(|p| p.policy.namespace == namespace && p.policy.name == name)
    }

    pub fn rate_limit(&self, namespace: &str, name: &str) -> Option<&PolicyReport> {
        self.rate_limits
            .iter()
            .find(|p| p.policy.namespace == namespace && p.policy.name == name)
    }

    pub fn backend(&self, namespace: &str, name: &str) -> Option<&BackendReport> {
        self.backends
            .iter()
            .find(|b| b.backend.namespace == namespace && b.backend.name == name)
    }
}
