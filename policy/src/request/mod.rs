//! Facts about one call: who, to which backend, the HTTP request, the parsed MCP or A2A
//! message, and when.

mod a2a;
mod http;
mod mcp;

use std::fmt;
use std::time::SystemTime;

pub use a2a::{A2aMessage, A2aMethod, is_agent_card_path};
pub use http::{Headers, HttpRequest};
pub use mcp::{JsonRpcKind, McpMessage};

use crate::source::Source;

/// One request to decide on.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub source: Source,
    /// The XBackend the request goes to (from `Index::resolve` or `/backends/<ns>/<name>/`).
    pub backend: BackendRef,
    pub http: HttpRequest,
    pub message: Message,
    /// CEL's `request.time`.
    pub time: SystemTime,
}

/// An XBackend by namespace and name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct BackendRef {
    pub namespace: String,
    pub name: String,
}

/// The JSON-RPC message of the request, if it carries one.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Message {
    /// No JSON-RPC body: an MCP GET stream or session DELETE, an A2A agent card fetch.
    #[default]
    None,
    Mcp(McpMessage),
    A2a(A2aMessage),
}

/// Why a request line or authority cannot be decided on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("invalid authority {0:?}")]
    Authority(String),
    #[error("invalid request path {0:?}: it must start with '/'")]
    Path(String),
}

/// Why a body is not a JSON-RPC message policy can decide on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("JSON-RPC batches are not supported")]
    Batch,
    #[error("the body is not a JSON-RPC object")]
    NotAnObject,
    #[error("jsonrpc must be \"2.0\"")]
    Version,
    #[error("method must be a string")]
    MethodType,
    #[error(
        "a message without a method must be a response with an id and exactly one of result or error"
    )]
    MissingMethod,
    #[error("params must be an object")]
    Params,
    #[error("id must be a string or a number")]
    Id,
    #[error("{0} must be a string")]
    FieldType(&'static str),
    #[error("the message names two different skills")]
    ConflictingSkill,
}

// === impl Request ===

impl Request {
    /// A request at the current time.
    pub fn new(source: Source, backend: BackendRef, http: HttpRequest, message: Message) -> Self {
        Request {
            source,
            backend,
            http,
            message,
            time: SystemTime::now(),
        }
    }

    pub fn mcp(&self) -> Option<&McpMessage> {
        match &self.message {
            Message::Mcp(m) => Some(m),
            _ => None,
        }
    }

    pub fn a2a(&self) -> Option<&A2aMessage> {
        match &self.message {
            Message::A2a(m) => Some(m),
            _ => None,
        }
    }

    /// What the request asks for, in words: "tool get-sum", "MCP method initialize",
    /// "A2A SendMessage (skill x)", "HTTP GET /mcp".
    pub fn describe(&self) -> String {
        match &self.message {
            Message::Mcp(m) => describe_mcp(m),
            Message::A2a(m) => match &m.skill {
                Some(skill) => format!("A2A {} (skill {skill})", m.method),
                None => format!("A2A {}", m.method),
            },
            Message::None => format!("HTTP {} {}", self.http.method, self.http.path),
        }
    }
}

fn describe_mcp(m: &McpMessage) -> String {
    let target = |what: &str, v: &Option<String>| v.as_ref().map(|v| format!("{what} {v}"));
    let named = match m.method.as_str() {
        "tools/call" => target("tool", &m.name),
        "prompts/get" => target("prompt", &m.name),
        method if method.starts_with("resources/") => {
            target("resource", &m.uri).map(|r| format!("{method} of {r}"))
        }
        _ => None,
    };
    match (named, m.kind) {
        (Some(n), _) => n,
        (None, JsonRpcKind::Response) => "an MCP response to a server request".to_owned(),
        (None, _) => format!("MCP method {}", m.method),
    }
}

// === impl BackendRef ===

impl BackendRef {
    pub fn new(namespace: &str, name: &str) -> Self {
        BackendRef {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for BackendRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(message: Message) -> Request {
        let http = HttpRequest::new("POST", "/mcp", "svc:80", 80).unwrap();
        Request::new(
            Source::anonymous(),
            BackendRef::new("ns", "b"),
            http,
            message,
        )
    }

    #[test]
    fn describes_what_is_asked_for() {
        let cases = [
            (
                Message::Mcp(McpMessage::tool_call("get-sum")),
                "tool get-sum",
            ),
            (
                Message::Mcp(McpMessage::new("prompts/get").with_name("p")),
                "prompt p",
            ),
            (
                Message::Mcp(McpMessage::new("resources/read").with_uri("file:///a")),
                "resources/read of resource file:///a",
            ),
            (
                Message::Mcp(McpMessage::new("initialize")),
                "MCP method initialize",
            ),
            (
                Message::A2a(A2aMessage::new("message/send").with_skill("s")),
                "A2A SendMessage (skill s)",
            ),
            (Message::A2a(A2aMessage::new("tasks/get")), "A2A GetTask"),
            (Message::None, "HTTP POST /mcp"),
        ];
        for (message, want) in cases {
            assert_eq!(with(message).describe(), want);
        }
        assert_eq!(BackendRef::new("a", "b").to_string(), "a/b");
    }
}
