//! Compiled matchers for one rule: HTTP (methods, paths, headers, hosts, ports), MCP
//! methods and params with upstream's base-protocol sets, and A2A methods and skills.
//! Each returns why it did not match, so `explain` and `decide` share one code path.

mod a2a;
mod http;
mod mcp;

use std::fmt;

pub(crate) use a2a::A2aMatch;
pub(crate) use http::HttpMatch;
pub(crate) use mcp::McpMatch;

/// Why a rule did not match a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The rule names another source.
    Source,
    HttpMethod,
    Path,
    /// A header the rule requires is absent or has another value.
    Header(String),
    Host,
    Port,
    /// No MCP method the rule lists (nor a base-protocol method it admits) matches.
    McpMethod,
    /// The method matches, but not the tool, prompt or resource the rule lists.
    McpParams,
    /// A base-protocol method, and the rule lists methods with SKIP_BASE_PROTOCOL_METHODS.
    BaseMethodsSkipped,
    /// The rule lists MCP methods and the request is A2A, or A2A attributes and the
    /// request is MCP.
    Protocol,
    A2aMethod,
    A2aSkill,
    /// The agent card, and the rule lists A2A methods or skills with SKIP_BASE_PROTOCOL_METHODS.
    AgentCard,
    /// CEL rules apply to tools/call only, unless they read request.mcp.method
    /// (any MCP request) or request.a2a.* (any A2A request).
    CelNotApplicable,
    CelFalse,
    CelError(String),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Source => f.write_str("the rule is for another source"),
            Mismatch::HttpMethod => f.write_str("the HTTP method is not one the rule lists"),
            Mismatch::Path => f.write_str("the path is not one the rule lists"),
            Mismatch::Header(name) => write!(f, "header {name} does not match"),
            Mismatch::Host => f.write_str("the host is not one the rule lists"),
            Mismatch::Port => f.write_str("the port is not one the rule lists"),
            Mismatch::McpMethod => f.write_str("the MCP method is not one the rule lists"),
            Mismatch::McpParams => f.write_str("the tool, prompt or resource is not one the rule lists"),
            Mismatch::BaseMethodsSkipped => {
                f.write_str("a base-protocol method, and the rule lists methods with SKIP_BASE_PROTOCOL_METHODS")
            }
            Mismatch::Protocol => f.write_str("the rule is for the other protocol (MCP or A2A)"),
            Mismatch::A2aMethod => f.write_str("the A2A method is not one the rule lists"),
            Mismatch::A2aSkill => f.write_str("the skill is not one the rule lists"),
            Mismatch::AgentCard => f.write_str("the agent card, and the rule restricts A2A with SKIP_BASE_PROTOCOL_METHODS"),
            Mismatch::CelNotApplicable => f.write_str(
                "a CEL rule admits only tools/call (unless it reads request.mcp.method or request.a2a.*)",
            ),
            Mismatch::CelFalse => f.write_str("the CEL expression is false"),
            Mismatch::CelError(e) => write!(f, "the CEL expression failed: {e}"),
        }
    }
}
