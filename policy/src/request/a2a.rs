//! An A2A JSON-RPC message: its method, normalized across the v1.0 and v0.3 names, and
//! the skill it targets.

use std::fmt;

use serde_json::{Map, Value};

use super::MessageError;
use super::mcp::{envelope, params, parse_id, string_field};

/// An A2A method by its v1.0 name; v0.3 names parse to the same value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum A2aMethod {
    Known(&'static str),
    /// Not an A2A method either generation names: matched only by its exact name.
    Other(String),
}

/// The policy-relevant parts of an A2A request.
#[derive(Clone, Debug, PartialEq)]
pub struct A2aMessage {
    pub method: A2aMethod,
    /// The skill the message targets (`metadata.skill` or `metadata.skillId` of the
    /// params or of `params.message`).
    pub skill: Option<String>,
    /// `params.metadata`.
    pub metadata: Option<Value>,
    pub id: Option<Value>,
}

/// v1.0 name, then the v0.3 names of the same operation.
const METHODS: &[(&str, &[&str])] = &[
    ("SendMessage", &["message/send"]),
    ("SendStreamingMessage", &["message/stream"]),
    ("GetTask", &["tasks/get"]),
    ("ListTasks", &[]),
    ("CancelTask", &["tasks/cancel"]),
    ("SubscribeToTask", &["tasks/resubscribe"]),
    (
        "CreateTaskPushNotificationConfig",
        &["tasks/pushNotificationConfig/set"],
    ),
    (
        "GetTaskPushNotificationConfig",
        &["tasks/pushNotificationConfig/get"],
    ),
    (
        "ListTaskPushNotificationConfigs",
        &[
            "ListTaskPushNotificationConfig",
            "tasks/pushNotificationConfig/list",
        ],
    ),
    (
        "DeleteTaskPushNotificationConfig",
        &["tasks/pushNotificationConfig/delete"],
    ),
    (
        "GetExtendedAgentCard",
        &["agent/getAuthenticatedExtendedCard"],
    ),
];

/// Where agents publish their card: v0.3 and later, and the older name.
pub fn is_agent_card_path(path: &str) -> bool {
    path.ends_with("/.well-known/agent-card.json") || path.ends_with("/.well-known/agent.json")
}

// === impl A2aMethod ===

impl A2aMethod {
    pub fn parse(name: &str) -> Self {
        METHODS
            .iter()
            .find(|(v1, v03)| *v1 == name || v03.contains(&name))
            .map_or_else(
                || A2aMethod::Other(name.to_owned()),
                |(v1, _)| A2aMethod::Known(v1),
            )
    }

    /// The v1.0 name (or the name as sent, when unknown).
    pub fn as_str(&self) -> &str {
        match self {
            A2aMethod::Known(n) => n,
            A2aMethod::Other(n) => n,
        }
    }

    /// Whether the method carries a message that may target a skill.
    pub fn sends_message(&self) -> bool {
        matches!(
            self,
            A2aMethod::Known("SendMessage" | "SendStreamingMessage")
        )
    }
}

impl fmt::Display for A2aMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl A2aMessage ===

impl A2aMessage {
    pub fn new(method: &str) -> Self {
        A2aMessage {
            method: A2aMethod::parse(method),
            skill: None,
            metadata: None,
            id: Some(Value::from(1)),
        }
    }

    pub fn with_skill(mut self, skill: &str) -> Self {
        self.skill = Some(skill.to_owned());
        self
    }

    /// Parses one JSON-RPC request; two different skills in one message are an error.
    pub fn parse(body: &Value) -> Result<Self, MessageError> {
        let object = envelope(body)?;
        let id = parse_id(object)?;
        let method = match object.get("method") {
            Some(Value::String(m)) => A2aMethod::parse(m),
            Some(_) => return Err(MessageError::MethodType),
            None => return Err(MessageError::MissingMethod),
        };
        let params = params(object)?;
        Ok(A2aMessage {
            method,
            skill: skill(params)?,
            metadata: params.and_then(|p| p.get("metadata")).cloned(),
            id,
        })
    }
}

fn skill(params: Option<&Map<String, Value>>) -> Result<Option<String>, MessageError> {
    let message = params
        .and_then(|p| p.get("message"))
        .and_then(Value::as_object);
    let mut found: Option<String> = None;
    for holder in [params, message] {
        let metadata = match holder.and_then(|h| h.get("metadata")) {
            None | Some(Value::Null) => continue,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(MessageError::FieldType("metadata")),
        };
        for field in ["skill", "skillId"] {
            if let Some(s) = string_field(metadata, field)? {
                if found.as_ref().is_some_and(|f| *f != s) {
                    return Err(MessageError::ConflictingSkill);
                }
                found = Some(s);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn both_generations_name_the_same_operation() {
        let pairs = [
            ("SendMessage", "message/send"),
            ("SendStreamingMessage", "message/stream"),
            ("GetTask", "tasks/get"),
            ("CancelTask", "tasks/cancel"),
            ("SubscribeToTask", "tasks/resubscribe"),
            (
                "CreateTaskPushNotificationConfig",
                "tasks/pushNotificationConfig/set",
            ),
            (
                "GetTaskPushNotificationConfig",
                "tasks/pushNotificationConfig/get",
            ),
            (
                "ListTaskPushNotificationConfigs",
                "tasks/pushNotificationConfig/list",
            ),
            (
                "DeleteTaskPushNotificationConfig",
                "tasks/pushNotificationConfig/delete",
            ),
            ("GetExtendedAgentCard", "agent/getAuthenticatedExtendedCard"),
        ];
        for (v1, v03) in pairs {
            assert_eq!(A2aMethod::parse(v03), A2aMethod::parse(v1), "{v03}");
            assert_eq!(A2aMethod::parse(v03).as_str(), v1);
        }
        assert_eq!(A2aMethod::parse("ListTasks"), A2aMethod::Known("ListTasks"));
        assert_eq!(
            A2aMethod::parse("tasks/list"),
            A2aMethod::Other("tasks/list".into())
        );
    }

    #[test]
    fn finds_the_skill_in_params_or_message_metadata() {
        let body =
            |params: Value| json!({"jsonrpc":"2.0","id":1,"method":"message/send","params":params});
        let cases = [
            (
                json!({"metadata":{"skill":"summarize"}}),
                Ok(Some("summarize")),
            ),
            (
                json!({"message":{"metadata":{"skillId":"translate"}}}),
                Ok(Some("translate")),
            ),
            (
                json!({"metadata":{"skill":"a"},"message":{"metadata":{"skillId":"a"}}}),
                Ok(Some("a")),
            ),
            (
                json!({"metadata":{"skill":"a"},"message":{"metadata":{"skill":"b"}}}),
                Err(MessageError::ConflictingSkill),
            ),
            (
                json!({"metadata":{"skill":1}}),
                Err(MessageError::FieldType("skill")),
            ),
            (
                json!({"metadata":"x"}),
                Err(MessageError::FieldType("metadata")),
            ),
            (json!({"message":{"parts":[]}}), Ok(None)),
        ];
        for (params, want) in cases {
            let got = A2aMessage::parse(&body(params.clone())).map(|m| m.skill);
            assert_eq!(got, want.map(|s| s.map(str::to_owned)), "{params}");
        }
    }

    #[test]
    fn rejects_messages_without_a_string_method() {
        assert_eq!(
            A2aMessage::parse(&json!({"jsonrpc":"2.0","id":1})),
            Err(MessageError::MissingMethod)
        );
        assert_eq!(
            A2aMessage::parse(&json!({"jsonrpc":"2.0","id":1,"method":1})),
            Err(MessageError::MethodType)
        );
    }

    #[test]
    fn recognizes_agent_card_paths() {
        assert!(is_agent_card_path("/.well-known/agent-card.json"));
        assert!(is_agent_card_path("/a2a/.well-known/agent.json"));
        assert!(!is_agent_card_path("/.well-known/agent-card.jsonx"));
    }
}
