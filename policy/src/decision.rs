//! The verdict on one request: allow or deny, the deciding policy and rule, why, which
//! default applied, and whether an external authorizer must also allow it.

use std::fmt;
use std::sync::Arc;

use agentnet_api::gateway::HttpExternalAuthFilter;

use crate::request::BackendRef;
use crate::rule::PolicyRef;

#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    pub backend: BackendRef,
    /// The policy whose rule admitted the request.
    pub policy: Option<PolicyRef>,
    pub rule: Option<String>,
    pub cause: Cause,
    /// Set when no rule decided and a default did.
    pub default: Option<AppliedDefault>,
    /// The request matches an ExternalAuth policy's rules: when the verdict is Allow,
    /// the authorizer must allow it too (the call-out is the caller's job; fail closed).
    pub external_auth: Option<ExternalAuthRequirement>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
}

/// Which default decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppliedDefault {
    /// No accepted Allow rule on the backend: allowed, as upstream.
    Allow,
    /// No accepted Allow rule on the backend, in deny-by-default mode.
    Deny,
    /// No accepted Allow rule, and a policy naming the backend was not accepted: its
    /// author meant to restrict the backend, so it is not left open.
    FailClosed,
}

/// Why, in terms a person can act on (see `Display`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    RuleAdmits,
    NoAllowPolicy,
    DeniedByDefault,
    FailClosed {
        rejected: Vec<PolicyRef>,
    },
    /// `request`: what was asked ("tool get-sum"); `source`: who asked.
    NoRuleAdmits {
        request: String,
        source: String,
    },
    BackendInvalid(String),
    UnknownBackend,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExternalAuthRequirement {
    pub policy: PolicyRef,
    /// The matching rule; `None` when the policy has no rules (it then covers all).
    pub rule: Option<String>,
    pub config: Arc<HttpExternalAuthFilter>,
    /// Where the authorizer is, or why its `backendRef` did not resolve (then the
    /// request must be denied).
    pub service: Arc<Result<AuthService, String>>,
}

/// The authorizer's Service: its ready endpoints on the referenced port, else its
/// cluster IP, else its DNS name (`authority`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthService {
    /// `<name>.<namespace>.svc.<cluster-domain>:<port>`.
    pub authority: String,
    pub port: u16,
    pub cluster_ip: Option<String>,
    pub endpoints: Vec<crate::index::Endpoint>,
}

// === impl Decision ===

impl Decision {
    pub(crate) fn new(verdict: Verdict, backend: &BackendRef, cause: Cause) -> Self {
        Decision {
            verdict,
            backend: backend.clone(),
            policy: None,
            rule: None,
            cause,
            default: None,
            external_auth: None,
        }
    }

    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// The human reason, e.g. "no rule admits tool echo for spiffe://… on backend ns/b".
    pub fn reason(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_cause(f)?;
        match (&self.external_auth, self.verdict) {
            (Some(e), Verdict::Allow) => {
                write!(f, "; ExternalAuth required by policy {}", e.policy)
            }
            _ => Ok(()),
        }
    }
}

impl Decision {
    fn write_admitted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let policy = self
            .policy
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let rule = self.rule.as_deref().unwrap_or_default();
        write!(
            f,
            "allowed by rule {rule} of policy {policy} on backend {}",
            self.backend
        )
    }

    fn write_cause(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.backend;
        let none = "no accepted Allow policy has rules for backend";
        match &self.cause {
            Cause::RuleAdmits => self.write_admitted(f),
            Cause::NoAllowPolicy => write!(f, "allowed by default: {none} {b}"),
            Cause::DeniedByDefault => write!(f, "denied by default: {none} {b}"),
            Cause::FailClosed { rejected } => {
                let names: Vec<String> = rejected.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "denied: backend {b} fails closed because policy {} was not accepted",
                    names.join(", ")
                )
            }
            Cause::NoRuleAdmits { request, source } => {
                write!(f, "no rule admits {request} for {source} on backend {b}")
            }
            Cause::BackendInvalid(why) => write!(f, "denied: XBackend {b} is not accepted: {why}"),
            Cause::UnknownBackend => write!(f, "denied: no XBackend {b}"),
        }
    }
}
