//! Deciding one request: the backend's ExternalAuth policy (does the request need the
//! authorizer?), then its Allow policies (any rule of any policy admits), then the
//! default. `decide` stops at the first admitting rule; `explain` evaluates them all.

use std::sync::Arc;

use agentnet_api::v1alpha1::PolicyAction;

use crate::compile::BackendDefault;
use crate::decision::{AppliedDefault, Cause, Decision, ExternalAuthRequirement, Verdict};
use crate::index::{Backend, Index};
use crate::matcher::Mismatch;
use crate::request::Request;
use crate::rule::{Facts, Policy, Rule};

/// Records each evaluated rule; `decide` records nothing.
pub(crate) trait Trace {
    /// Evaluate every rule rather than stop at the deciding one.
    const ALL: bool;
    /// `rule` is `None` for a policy without rules.
    fn step(&mut self, policy: &Policy, rule: Option<&Rule>, outcome: &Result<(), Mismatch>);
}

pub(crate) struct NoTrace;

impl Trace for NoTrace {
    const ALL: bool = false;
    fn step(&mut self, _: &Policy, _: Option<&Rule>, _: &Result<(), Mismatch>) {}
}

// === impl Index ===

impl Index {
    /// May this request proceed, and why. Fast: no allocation on the allow path beyond
    /// the names the decision carries.
    pub fn decide(&self, req: &Request) -> Decision {
        self.evaluate(req, &mut NoTrace)
    }

    pub(crate) fn evaluate<T: Trace>(&self, req: &Request, trace: &mut T) -> Decision {
        let backend = match self.enforceable_backend(req) {
            Ok(backend) => backend,
            Err(cause) => return Decision::new(Verdict::Deny, &req.backend, cause),
        };
        let facts = self.facts(req, backend);
        let external_auth = external_auth(backend, &facts, trace);
        let mut decision = match allow_rules(backend, &facts, trace) {
            Admitted::Rule(policy, rule) => {
                let mut d = Decision::new(Verdict::Allow, &req.backend, Cause::RuleAdmits);
                (d.policy, d.rule) = (Some(policy.id.clone()), Some(rule.name.clone()));
                d
            }
            Admitted::NoRule => Decision::new(Verdict::Deny, &req.backend, no_rule_admits(req)),
            Admitted::Ungoverned => self.default_for(backend, req),
        };
        decision.external_auth = external_auth;
        decision
    }

    fn facts<'r>(&'r self, req: &'r Request, backend: &Backend) -> Facts<'r> {
        let trust_domain = &self.settings.trust_domain;
        Facts::new(
            req,
            backend.protocol,
            &self.cel,
            backend.cel_needs,
            trust_domain,
        )
    }

    /// The request's backend, or the denial when there is none or it is not accepted.
    fn enforceable_backend(&self, req: &Request) -> Result<&Backend, Cause> {
        let backend = self.by_name.get(&req.backend).map(|i| &self.backends[*i]);
        let backend = backend.ok_or(Cause::UnknownBackend)?;
        match &backend.invalid {
            Some(why) => Err(Cause::BackendInvalid(why.clone())),
            None => Ok(backend),
        }
    }

    fn default_for(&self, backend: &Backend, req: &Request) -> Decision {
        let default = self.applied_default(backend);
        let (verdict, cause) = match default {
            AppliedDefault::FailClosed => (
                Verdict::Deny,
                Cause::FailClosed {
                    rejected: backend.rejected.clone(),
                },
            ),
            AppliedDefault::Deny => (Verdict::Deny, Cause::DeniedByDefault),
            AppliedDefault::Allow => (Verdict::Allow, Cause::NoAllowPolicy),
        };
        let mut d = Decision::new(verdict, &req.backend, cause);
        d.default = Some(default);
        d
    }

    fn applied_default(&self, backend: &Backend) -> AppliedDefault {
        if !backend.rejected.is_empty() {
            AppliedDefault::FailClosed
        } else if self.settings.backend_default == BackendDefault::Deny {
            AppliedDefault::Deny
        } else {
            AppliedDefault::Allow
        }
    }

    /// `decide(req).is_allowed()`, without building the decision: filtering a list
    /// asks this once per entry, and most entries of a long list are denied, whose
    /// decisions carry formatted reasons nobody reads. The ExternalAuth policy is not
    /// consulted, as it never changes the verdict.
    pub(crate) fn allows(&self, req: &Request) -> bool {
        let Ok(backend) = self.enforceable_backend(req) else {
            return false;
        };
        match allow_rules(backend, &self.facts(req, backend), &mut NoTrace) {
            Admitted::Rule(..) => true,
            Admitted::NoRule => false,
            Admitted::Ungoverned => self.applied_default(backend) == AppliedDefault::Allow,
        }
    }
}

#[derive(Clone, Copy)]
enum Admitted<'i> {
    Rule(&'i Policy, &'i Rule),
    /// Allow rules exist and none admits.
    NoRule,
    /// No accepted Allow policy has a rule: the default decides.
    Ungoverned,
}

/// Upstream merges every Allow policy's rules into one RBAC ALLOW, keyed by rule name,
/// so equal names in two policies overwrite each other; here each rule stands alone.
fn allow_rules<'i, T: Trace>(
    backend: &'i Backend,
    facts: &Facts<'_>,
    trace: &mut T,
) -> Admitted<'i> {
    let mut admitted = Admitted::Ungoverned;
    for policy in backend
        .policies
        .iter()
        .filter(|p| p.action == PolicyAction::Allow)
    {
        if policy.rules.is_empty() {
            trace.step(policy, None, &Ok(()));
            continue;
        }
        admitted = match (admitted, first_match(policy, facts, trace)) {
            (Admitted::Rule(p, r), _) => Admitted::Rule(p, r),
            (_, Some(rule)) => Admitted::Rule(policy, rule),
            _ => Admitted::NoRule,
        };
        if !T::ALL && matches!(admitted, Admitted::Rule(..)) {
            break;
        }
    }
    admitted
}

/// The first rule of the ExternalAuth policy that matches; a policy without rules
/// covers every request (upstream's Any/Any shadow rule).
fn external_auth<T: Trace>(
    backend: &Backend,
    facts: &Facts<'_>,
    trace: &mut T,
) -> Option<ExternalAuthRequirement> {
    let policy = backend
        .policies
        .iter()
        .find(|p| p.action == PolicyAction::ExternalAuth)?;
    let config = policy.external_auth.clone()?;
    let unresolved = || Arc::new(Err("the authorizer was not resolved".to_owned()));
    let service = policy
        .external_auth_service
        .clone()
        .unwrap_or_else(unresolved);
    let rule = if policy.rules.is_empty() {
        trace.step(policy, None, &Ok(()));
        None
    } else {
        Some(first_match(policy, facts, trace)?)
    };
    Some(ExternalAuthRequirement {
        policy: policy.id.clone(),
        rule: rule.map(|r| r.name.clone()),
        config,
        service,
    })
}

fn first_match<'p, T: Trace>(
    policy: &'p Policy,
    facts: &Facts<'_>,
    trace: &mut T,
) -> Option<&'p Rule> {
    let mut found = None;
    for rule in &policy.rules {
        let outcome = rule.matches(facts);
        trace.step(policy, Some(rule), &outcome);
        if outcome.is_ok() && found.is_none() {
            found = Some(rule);
            if !T::ALL {
                break;
            }
        }
    }
    found
}

fn no_rule_admits(req: &Request) -> Cause {
    Cause::NoRuleAdmits {
        request: req.describe(),
        source: req.source.to_string(),
    }
}
