//! Compiled policies and rules, and whether one rule admits one request: its source,
//! then its HTTP matchers, then its MCP/A2A part or its CEL expression.

use std::cell::OnceCell;
use std::fmt;
use std::sync::Arc;

use agentnet_api::gateway::HttpExternalAuthFilter;
use agentnet_api::v1alpha1::{PolicyAction, XAccessPolicy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::cel::{Activation, CelEngine, CelRule, Needs};
use crate::decision::AuthService;
use crate::index::Protocol;
use crate::matcher::{A2aMatch, HttpMatch, McpMatch, Mismatch};
use crate::request::{JsonRpcKind, Message, Request};

/// An XAccessPolicy by namespace and name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct PolicyRef {
    pub namespace: String,
    pub name: String,
}

#[derive(Debug)]
pub(crate) struct Policy {
    pub id: PolicyRef,
    pub action: PolicyAction,
    pub external_auth: Option<Arc<HttpExternalAuthFilter>>,
    /// ExternalAuth policies: the authorizer's address, or why it did not resolve.
    pub external_auth_service: Option<Arc<Result<AuthService, String>>>,
    pub rules: Vec<Rule>,
    pub created: Option<Time>,
}

#[derive(Debug)]
pub(crate) struct Rule {
    pub name: String,
    pub source: SourceMatch,
    pub http: HttpMatch,
    pub kind: RuleKind,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SourceMatch {
    Any,
    Spiffe(String),
}

#[derive(Debug)]
pub(crate) enum RuleKind {
    /// `authorization` omitted: everything from the source.
    Any,
    Inline {
        mcp: McpMatch,
        a2a: A2aMatch,
    },
    Cel(Box<CelRule>),
}

/// One request, and what the rules it meets share: its CEL variables, bound at most once.
pub(crate) struct Facts<'r> {
    pub req: &'r Request,
    pub protocol: Protocol,
    engine: &'r CelEngine,
    needs: Needs,
    trust_domain: &'r str,
    activation: OnceCell<Activation<'r>>,
}

// === impl PolicyRef ===

impl PolicyRef {
    pub fn new(namespace: &str, name: &str) -> Self {
        PolicyRef {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The policy's namespace (`default` when unset) and name.
    pub fn of(p: &XAccessPolicy) -> Self {
        let namespace = p.metadata.namespace.as_deref().unwrap_or("default");
        PolicyRef::new(namespace, p.metadata.name.as_deref().unwrap_or_default())
    }
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

// === impl Rule ===

impl Rule {
    pub fn matches(&self, facts: &Facts<'_>) -> Result<(), Mismatch> {
        self.source.matches(facts.req)?;
        self.http.matches(&facts.req.http)?;
        match &self.kind {
            RuleKind::Any => Ok(()),
            RuleKind::Inline { mcp, a2a } => protocol_part(mcp, a2a, facts),
            RuleKind::Cel(cel) => {
                cel_applies(cel, facts)?;
                facts.evaluate(cel)
            }
        }
    }

    /// Whether the rule looks past the destination, so a CONNECT tunnel would hide
    /// what it decides on.
    pub fn needs_inspection(&self) -> bool {
        let kind = match &self.kind {
            RuleKind::Any => false,
            RuleKind::Inline { mcp, a2a } => mcp.is_restrictive() || a2a.is_restrictive(),
            RuleKind::Cel(_) => true,
        };
        kind || !self.http.is_destination_only()
    }
}

/// MCP attributes speak to MCP requests, A2A attributes to A2A ones; a rule that
/// restricts one protocol never admits the other.
fn protocol_part(mcp: &McpMatch, a2a: &A2aMatch, facts: &Facts<'_>) -> Result<(), Mismatch> {
    match facts.request_protocol() {
        Protocol::Mcp if a2a.is_restrictive() => Err(Mismatch::Protocol),
        Protocol::Mcp => mcp.matches(facts.req),
        Protocol::A2a if mcp.has_methods() => Err(Mismatch::Protocol),
        Protocol::A2a => a2a.matches(facts.req, mcp.base),
    }
}

fn cel_applies(cel: &CelRule, facts: &Facts<'_>) -> Result<(), Mismatch> {
    let tools_call = facts
        .req
        .mcp()
        .is_some_and(|m| m.kind != JsonRpcKind::Response && m.method == "tools/call");
    let applies = match facts.request_protocol() {
        Protocol::Mcp => tools_call || cel.admits_any_mcp_method(),
        Protocol::A2a => cel.admits_a2a(),
    };
    if applies {
        Ok(())
    } else {
        Err(Mismatch::CelNotApplicable)
    }
}

// === impl SourceMatch ===

impl SourceMatch {
    pub(crate) fn matches(&self, req: &Request) -> Result<(), Mismatch> {
        match self {
            SourceMatch::Any => Ok(()),
            SourceMatch::Spiffe(id) if req.source.spiffe_id() == Some(id.as_str()) => Ok(()),
            SourceMatch::Spiffe(_) => Err(Mismatch::Source),
        }
    }
}

impl fmt::Display for SourceMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceMatch::Any => f.write_str("any source"),
            SourceMatch::Spiffe(id) => f.write_str(id),
        }
    }
}

// === impl Facts ===

impl<'r> Facts<'r> {
    pub fn new(
        req: &'r Request,
        protocol: Protocol,
        engine: &'r CelEngine,
        needs: Needs,
        trust_domain: &'r str,
    ) -> Self {
        Facts {
            req,
            protocol,
            engine,
            needs,
            trust_domain,
            activation: OnceCell::new(),
        }
    }

    /// The message's protocol; a request without one speaks the backend's.
    pub fn request_protocol(&self) -> Protocol {
        match self.req.message {
            Message::Mcp(_) => Protocol::Mcp,
            Message::A2a(_) => Protocol::A2a,
            Message::None => self.protocol,
        }
    }

    fn evaluate(&self, cel: &CelRule) -> Result<(), Mismatch> {
        let activation = self
            .activation
            .get_or_init(|| Activation::new(self.req, self.needs, self.trust_domain));
        match self.engine.evaluate(cel, activation) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Mismatch::CelFalse),
            Err(e) => Err(Mismatch::CelError(e)),
        }
    }
}
