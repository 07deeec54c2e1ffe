//! `explain`: the decision plus every policy and rule evaluated and why each matched or
//! not, for the sidecar's `/explain`, trace spans per rule, and people.

use std::fmt;

use agentnet_api::v1alpha1::PolicyAction;

use crate::decision::Decision;
use crate::evaluate::Trace;
use crate::index::Index;
use crate::matcher::Mismatch;
use crate::request::Request;
use crate::rule::{Policy, PolicyRef, Rule};

#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// What was asked ("tool get-sum") and by whom.
    pub request: String,
    pub source: String,
    /// In evaluation order: the ExternalAuth policy's rules, then each Allow policy's.
    pub steps: Vec<Step>,
    pub decision: Decision,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub policy: PolicyRef,
    pub action: PolicyAction,
    /// `None` for a policy without rules.
    pub rule: Option<String>,
    /// The rule's source, e.g. `spiffe://cluster.local/ns/a/sa/b` or `any source`.
    pub rule_source: String,
    pub outcome: Outcome,
    /// Whether this step decided: the admitting Allow rule or the ExternalAuth match.
    pub deciding: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Matched,
    NotMatched(Mismatch),
    /// An Allow policy without rules adds nothing; an ExternalAuth one covers all.
    NoRules,
}

#[derive(Default)]
struct Steps(Vec<Step>);

impl Trace for Steps {
    const ALL: bool = true;

    fn step(&mut self, policy: &Policy, rule: Option<&Rule>, outcome: &Result<(), Mismatch>) {
        let outcome = match (rule, outcome) {
            (None, _) => Outcome::NoRules,
            (Some(_), Ok(())) => Outcome::Matched,
            (Some(_), Err(m)) => Outcome::NotMatched(m.clone()),
        };
        self.0.push(Step {
            policy: policy.id.clone(),
            action: policy.action,
            rule: rule.map(|r| r.name.clone()),
            rule_source: rule.map(|r| r.source.to_string()).unwrap_or_default(),
            outcome,
            deciding: false,
        });
    }
}

// === impl Index ===

impl Index {
    /// Decides like [`Index::decide`], recording every rule on the way.
    pub fn explain(&self, req: &Request) -> Explanation {
        let mut steps = Steps::default();
        let decision = self.evaluate(req, &mut steps);
        let mut steps = steps.0;
        mark_deciding(&mut steps, &decision);
        Explanation {
            request: req.describe(),
            source: req.source.to_string(),
            steps,
            decision,
        }
    }
}

fn mark_deciding(steps: &mut [Step], decision: &Decision) {
    let is = |s: &Step, policy: Option<&PolicyRef>, rule: Option<&String>| {
        Some(&s.policy) == policy && s.rule.as_ref() == rule
    };
    let allow = (decision.policy.as_ref(), decision.rule.as_ref());
    if let Some(s) = steps
        .iter_mut()
        .find(|s| s.action == PolicyAction::Allow && is(s, allow.0, allow.1))
    {
        s.deciding = true;
    }
    if let Some(e) = &decision.external_auth {
        let hit = steps.iter_mut().find(|s| {
            s.action == PolicyAction::ExternalAuth && is(s, Some(&e.policy), e.rule.as_ref())
        });
        hit.into_iter().for_each(|s| s.deciding = true);
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} from {} to backend {}",
            self.request, self.source, self.decision.backend
        )?;
        for step in &self.steps {
            writeln!(f, "  {step}")?;
        }
        let verdict = if self.decision.is_allowed() {
            "ALLOW"
        } else {
            "DENY"
        };
        write!(f, "{verdict}: {}", self.decision)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            PolicyAction::Allow => "Allow",
            PolicyAction::ExternalAuth => "ExternalAuth",
        };
        let Some(rule) = &self.rule else {
            let what = if self.action == PolicyAction::Allow {
                "adds nothing"
            } else {
                "covers every request"
            };
            return write!(f, "{action} policy {}: no rules, {what}", self.policy);
        };
        write!(
            f,
            "{action} policy {} rule {rule} ({}): ",
            self.policy, self.rule_source
        )?;
        match &self.outcome {
            Outcome::Matched if self.deciding => f.write_str("matched, decides"),
            Outcome::Matched => f.write_str("matched"),
            Outcome::NotMatched(m) => write!(f, "no match: {m}"),
            Outcome::NoRules => Ok(()),
        }
    }
}
