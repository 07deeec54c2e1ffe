//! Upstream's MCP permissions: one per listed method (categories match by prefix,
//! `params` by name), plus the base-protocol set with MATCH_BASE_PROTOCOL_METHODS; no
//! methods with SKIP admits anything.

use agentnet_api::v1alpha1::{BaseProtocolMethodsOption, McpAttributes};

use super::Mismatch;
use crate::request::{JsonRpcKind, McpMessage, Message, Request};

#[derive(Debug)]
pub(crate) struct McpMatch {
    entries: Vec<MethodEntry>,
    /// MATCH_BASE_PROTOCOL_METHODS.
    pub base: bool,
}

#[derive(Debug)]
struct MethodEntry {
    method: MethodName,
    /// Empty: any. Names for tools and prompts; URIs for resources (beyond upstream).
    params: Vec<String>,
    by_uri: bool,
}

#[derive(Debug)]
enum MethodName {
    /// `tools`, `prompts`, `resources` as `tools/` etc.
    Category(String),
    Exact(String),
}

const CATEGORIES: &[&str] = &["tools", "prompts", "resources"];
const BASE_METHODS: &[&str] = &[
    "initialize",
    "tools/list",
    "ping",
    "server/discover",
    "subscriptions/listen",
];
const BASE_PREFIXES: &[&str] = &["completion/", "logging/", "notifications/"];

/// Upstream's MATCH_BASE_PROTOCOL_METHODS set, plus the session-less transport's
/// methods and (beyond upstream) the client's responses to server requests.
pub(crate) fn is_base_protocol(req: &Request) -> bool {
    match &req.message {
        Message::Mcp(m) if m.kind == JsonRpcKind::Response => true,
        Message::Mcp(m) => {
            BASE_METHODS.contains(&m.method.as_str())
                || BASE_PREFIXES.iter().any(|p| m.method.starts_with(p))
        }
        Message::None => match req.http.method.as_str() {
            "GET" => true,
            "DELETE" => req.http.headers.contains("mcp-session-id"),
            _ => false,
        },
        Message::A2a(_) => false,
    }
}

// === impl McpMatch ===

impl McpMatch {
    pub fn compile(mcp: &McpAttributes) -> Self {
        let entries = mcp.methods.iter().flatten().map(|m| MethodEntry {
            method: if CATEGORIES.contains(&m.name.as_str()) {
                MethodName::Category(format!("{}/", m.name))
            } else {
                MethodName::Exact(m.name.clone())
            },
            params: m.params.clone().unwrap_or_default(),
            by_uri: m.name.starts_with("resources"),
        });
        McpMatch {
            entries: entries.collect(),
            base: mcp.base_protocol_methods == BaseProtocolMethodsOption::Match,
        }
    }

    /// Whether the rule lists MCP methods (`methods: []` lists none, as upstream).
    pub fn has_methods(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Whether the rule names tools, prompts or resources rather than admitting any.
    pub fn is_restrictive(&self) -> bool {
        self.has_methods() || self.base
    }

    pub fn matches(&self, req: &Request) -> Result<(), Mismatch> {
        if !self.is_restrictive() {
            return Ok(());
        }
        let base = is_base_protocol(req);
        if base && self.base {
            return Ok(());
        }
        let Some(m) = req.mcp().filter(|m| m.kind != JsonRpcKind::Response) else {
            return Err(if base && self.has_methods() {
                Mismatch::BaseMethodsSkipped
            } else {
                Mismatch::McpMethod
            });
        };
        let mut method_matched = false;
        for entry in self.entries.iter().filter(|e| e.method.matches(&m.method)) {
            if entry.params_match(m) {
                return Ok(());
            }
            method_matched = true;
        }
        Err(match (method_matched, base) {
            (true, _) => Mismatch::McpParams,
            (false, true) => Mismatch::BaseMethodsSkipped,
            (false, false) => Mismatch::McpMethod,
        })
    }
}

// === impl MethodEntry ===

impl MethodEntry {
    fn params_match(&self, m: &McpMessage) -> bool {
        if self.params.is_empty() {
            return true;
        }
        // Resources are named by URI; matching their params.name (as upstream does)
        // would let a caller add an allowed name to any URI.
        let key = if self.by_uri { &m.uri } else { &m.name };
        key.as_ref().is_some_and(|k| self.params.contains(k))
    }
}

impl MethodName {
    fn matches(&self, method: &str) -> bool {
        match self {
            MethodName::Category(prefix) => method.starts_with(prefix.as_str()),
            MethodName::Exact(name) => method == name,
        }
    }
}

#[cfg(test)]
mod tests;
