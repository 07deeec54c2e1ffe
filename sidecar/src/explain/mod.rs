//! explain: "may this caller make this call on this backend, and why?" — the admin
//! endpoint `/explain` and the `agentnet-sidecar explain` command (which asks a
//! running sidecar, or evaluates a `--config-dir` itself) share the query and output.

use std::net::SocketAddr;
use std::path::PathBuf;

use agentnet_api::contract::{self, env};
use agentnet_policy::{
    A2aMessage, Backend, BackendDefault, BackendRef, Explanation, HttpRequest, Index, McpMessage,
    Message, Outcome, Protocol, Request, Source,
};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::request::identify::backend_authority;

mod command;

pub use command::{CommandError, run};

/// What to explain. Without --method, --tool means tools/call, --prompt prompts/get,
/// --uri resources/read and --skill SendMessage; with none of them, an HTTP request.
#[derive(Clone, Debug, Default, Args, Serialize, Deserialize)]
pub struct ExplainQuery {
    /// The XBackend, `namespace/name`.
    #[arg(long, env = "AGENTNET_EXPLAIN_BACKEND")]
    pub backend: String,
    /// The caller's SPIFFE ID (default: this sidecar's agent).
    #[arg(long, env = "AGENTNET_EXPLAIN_SOURCE")]
    pub source: Option<String>,
    /// MCP method (tools/call, tools/list, …) or A2A method (SendMessage, message/send, …).
    #[arg(long, env = "AGENTNET_EXPLAIN_METHOD")]
    pub method: Option<String>,
    /// MCP tool name.
    #[arg(long, env = "AGENTNET_EXPLAIN_TOOL")]
    pub tool: Option<String>,
    /// MCP prompt name.
    #[arg(long, env = "AGENTNET_EXPLAIN_PROMPT")]
    pub prompt: Option<String>,
    /// MCP resource URI.
    #[arg(long, env = "AGENTNET_EXPLAIN_URI")]
    pub uri: Option<String>,
    /// A2A skill.
    #[arg(long, env = "AGENTNET_EXPLAIN_SKILL")]
    pub skill: Option<String>,
    /// HTTP method (default POST with a JSON-RPC method, GET without).
    #[arg(long, env = "AGENTNET_EXPLAIN_HTTP_METHOD")]
    pub http_method: Option<String>,
    /// Request path (default: the backend's path).
    #[arg(long, env = "AGENTNET_EXPLAIN_PATH")]
    pub path: Option<String>,
}

/// The `explain` command.
#[derive(Clone, Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub query: ExplainQuery,
    /// The running sidecar's admin listener.
    #[arg(long, env = env::ADMIN_ADDR, default_value_t = SocketAddr::from(([127, 0, 0, 1], contract::ADMIN_PORT)))]
    pub admin_addr: SocketAddr,
    /// Evaluate these manifests instead of asking a running sidecar.
    #[arg(long, env = "AGENTNET_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,
    /// With --config-dir: the trust domain, cluster domain and backend default to use.
    #[arg(long, env = env::TRUST_DOMAIN, default_value = contract::DEFAULT_TRUST_DOMAIN)]
    pub trust_domain: String,
    #[arg(long, env = env::CLUSTER_DOMAIN, default_value = "cluster.local")]
    pub cluster_domain: String,
    #[arg(long, env = env::BACKEND_DEFAULT, default_value = "allow", value_parser = |s: &str| s.parse::<BackendDefault>().map_err(|e| e.to_string()))]
    pub backend_default: BackendDefault,
    /// Print JSON instead of text.
    #[arg(long, env = "AGENTNET_EXPLAIN_JSON")]
    pub json: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("--backend must be namespace/name, got {0:?}")]
    Backend(String),
    #[error("--source: {0}")]
    Source(#[from] agentnet_policy::SourceError),
    #[error("invalid request: {0}")]
    Request(#[from] agentnet_policy::RequestError),
}

/// The request `q` describes, from `default_source` unless it names another caller.
pub fn request(index: &Index, q: &ExplainQuery, default: &Source) -> Result<Request, ExplainError> {
    let bad = || ExplainError::Backend(q.backend.clone());
    let (ns, name) = q
        .backend
        .split_once('/')
        .filter(|(n, m)| !n.is_empty() && !m.is_empty())
        .ok_or_else(bad)?;
    let backend = index.backend(ns, name);
    let source = match &q.source {
        Some(id) => Source::from_spiffe_id(id)?,
        None => default.clone(),
    };
    let message = message(backend.map_or(Protocol::Mcp, |b| b.protocol()), q);
    let http = http_request(q, backend, (ns, name), matches!(message, Message::None))?;
    Ok(Request::new(
        source,
        BackendRef::new(ns, name),
        http,
        message,
    ))
}

/// The HTTP side: the method (GET without a message, else POST), the backend's path
/// and authority, unless the query says otherwise.
fn http_request(
    q: &ExplainQuery,
    backend: Option<&Backend>,
    (ns, name): (&str, &str),
    bodiless: bool,
) -> Result<HttpRequest, ExplainError> {
    let default_method = if bodiless { "GET" } else { "POST" };
    let method = q.http_method.as_deref().unwrap_or(default_method);
    let backend_path = backend.map_or("/", |b| b.path());
    let path = q.path.as_deref().unwrap_or(backend_path);
    let authority = backend
        .and_then(backend_authority)
        .unwrap_or_else(|| format!("{name}.{ns}"));
    Ok(HttpRequest::new(method, path, &authority, 80)?)
}

fn message(protocol: Protocol, q: &ExplainQuery) -> Message {
    match protocol {
        Protocol::Mcp => {
            let implied = q
                .tool
                .as_ref()
                .map(|_| "tools/call")
                .or(q.prompt.as_ref().map(|_| "prompts/get"))
                .or(q.uri.as_ref().map(|_| "resources/read"));
            let Some(method) = q.method.as_deref().or(implied) else {
                return Message::None;
            };
            let mut m = McpMessage::new(method);
            (m.name, m.uri) = (q.tool.clone().or_else(|| q.prompt.clone()), q.uri.clone());
            Message::Mcp(m)
        }
        Protocol::A2a => {
            let Some(method) = q
                .method
                .as_deref()
                .or(q.skill.as_ref().map(|_| "SendMessage"))
            else {
                return Message::None;
            };
            let mut m = A2aMessage::new(method);
            m.skill.clone_from(&q.skill);
            Message::A2a(m)
        }
    }
}

/// The explanation as JSON: the request, every step and the decision.
pub fn to_json(e: &Explanation) -> Value {
    let steps: Vec<Value> = e.steps.iter().map(|s| {
        let outcome = match &s.outcome {
            Outcome::Matched => "matched".to_owned(),
            Outcome::NotMatched(m) => format!("no match: {m}"),
            Outcome::NoRules => "no rules".to_owned(),
        };
        json!({"policy": s.policy, "action": s.action, "rule": s.rule, "source": s.rule_source, "outcome": outcome, "deciding": s.deciding})
    }).collect();
    let d = &e.decision;
    json!({
        "request": e.request,
        "source": e.source,
        "backend": d.backend,
        "steps": steps,
        "decision": if d.is_allowed() { "allow" } else { "deny" },
        "policy": d.policy,
        "rule": d.rule,
        "reason": d.reason(),
        "external_auth": d.external_auth.as_ref().map(|x| x.policy.to_string()),
    })
}

#[cfg(test)]
mod tests;
