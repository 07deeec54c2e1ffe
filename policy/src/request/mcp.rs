//! An MCP JSON-RPC message, reduced to what policy looks at.

use serde_json::{Map, Value};

use super::MessageError;

/// Which JSON-RPC shape the client sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonRpcKind {
    Request,
    Notification,
    /// A response to a server request (sampling, elicitation, roots): no method.
    Response,
}

/// The policy-relevant parts of an MCP message.
#[derive(Clone, Debug, PartialEq)]
pub struct McpMessage {
    pub kind: JsonRpcKind,
    /// e.g. `tools/call`; empty for a response.
    pub method: String,
    /// `params.name`: the tool or prompt.
    pub name: Option<String>,
    /// `params.uri`: the resource.
    pub uri: Option<String>,
    /// `params.arguments`.
    pub arguments: Option<Value>,
    pub id: Option<Value>,
}

// === impl McpMessage ===

impl McpMessage {
    /// A request with no params, e.g. `McpMessage::new("tools/list")`.
    pub fn new(method: &str) -> Self {
        McpMessage {
            kind: JsonRpcKind::Request,
            method: method.to_owned(),
            name: None,
            uri: None,
            arguments: None,
            id: Some(Value::from(1)),
        }
    }

    /// `tools/call` of `name`.
    pub fn tool_call(name: &str) -> Self {
        Self::new("tools/call").with_name(name)
    }

    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    pub fn with_uri(mut self, uri: &str) -> Self {
        self.uri = Some(uri.to_owned());
        self
    }

    pub fn with_arguments(mut self, arguments: Value) -> Self {
        self.arguments = Some(arguments);
        self
    }

    /// Parses one JSON-RPC element. Anything a rule could be fooled by (a batch, a
    /// non-string method or name) is an error, never a partial message.
    pub fn parse(body: &Value) -> Result<Self, MessageError> {
        let object = envelope(body)?;
        let id = parse_id(object)?;
        let Some(method) = object.get("method") else {
            return parse_response(object, id);
        };
        let method = method.as_str().ok_or(MessageError::MethodType)?.to_owned();
        let params = params(object)?;
        Ok(McpMessage {
            kind: if id.is_some() {
                JsonRpcKind::Request
            } else {
                JsonRpcKind::Notification
            },
            method,
            name: string_field(params, "name")?,
            uri: string_field(params, "uri")?,
            arguments: params.and_then(|p| p.get("arguments")).cloned(),
            id,
        })
    }
}

fn parse_response(
    object: &Map<String, Value>,
    id: Option<Value>,
) -> Result<McpMessage, MessageError> {
    if id.is_none() || object.contains_key("result") == object.contains_key("error") {
        return Err(MessageError::MissingMethod);
    }
    Ok(McpMessage {
        kind: JsonRpcKind::Response,
        method: String::new(),
        name: None,
        uri: None,
        arguments: None,
        id,
    })
}

/// The JSON-RPC 2.0 object, or why it is not one.
pub(super) fn envelope(body: &Value) -> Result<&Map<String, Value>, MessageError> {
    let object = match body {
        Value::Object(o) => o,
        Value::Array(_) => return Err(MessageError::Batch),
        _ => return Err(MessageError::NotAnObject),
    };
    match object.get("jsonrpc") {
        Some(Value::String(v)) if v == "2.0" => Ok(object),
        _ => Err(MessageError::Version),
    }
}

pub(super) fn parse_id(object: &Map<String, Value>) -> Result<Option<Value>, MessageError> {
    match object.get("id") {
        None => Ok(None),
        Some(id @ (Value::String(_) | Value::Number(_))) => Ok(Some(id.clone())),
        Some(_) => Err(MessageError::Id),
    }
}

pub(super) fn params(
    object: &Map<String, Value>,
) -> Result<Option<&Map<String, Value>>, MessageError> {
    match object.get("params") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(p)) => Ok(Some(p)),
        Some(_) => Err(MessageError::Params),
    }
}

pub(super) fn string_field(
    map: Option<&Map<String, Value>>,
    field: &'static str,
) -> Result<Option<String>, MessageError> {
    match map.and_then(|m| m.get(field)) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(MessageError::FieldType(field)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_requests_notifications_and_responses() {
        let call = json!({"jsonrpc":"2.0","id":"7","method":"tools/call","params":{"name":"get-sum","arguments":{"a":1}}});
        let m = McpMessage::parse(&call).unwrap();
        assert_eq!(
            m,
            McpMessage::tool_call("get-sum")
                .with_arguments(json!({"a":1}))
                .with_id(json!("7"))
        );
        let read =
            json!({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}});
        assert_eq!(
            McpMessage::parse(&read).unwrap().uri.as_deref(),
            Some("file:///a")
        );
        let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
        assert_eq!(
            McpMessage::parse(&note).unwrap().kind,
            JsonRpcKind::Notification
        );
        let resp = json!({"jsonrpc":"2.0","id":3,"result":{}});
        let m = McpMessage::parse(&resp).unwrap();
        assert_eq!((m.kind, m.method.as_str()), (JsonRpcKind::Response, ""));
    }

    #[test]
    fn rejects_what_a_rule_could_be_fooled_by() {
        let cases = [
            (
                json!([{"jsonrpc":"2.0","method":"ping","id":1}]),
                MessageError::Batch,
            ),
            (json!("x"), MessageError::NotAnObject),
            (json!({"method":"ping","id":1}), MessageError::Version),
            (
                json!({"jsonrpc":"2.0","id":1,"method":7}),
                MessageError::MethodType,
            ),
            (
                json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["a"]}}),
                MessageError::FieldType("name"),
            ),
            (
                json!({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":1}}),
                MessageError::FieldType("uri"),
            ),
            (
                json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":["a"]}),
                MessageError::Params,
            ),
            (
                json!({"jsonrpc":"2.0","id":{},"method":"ping"}),
                MessageError::Id,
            ),
            (json!({"jsonrpc":"2.0","id":1}), MessageError::MissingMethod),
            (
                json!({"jsonrpc":"2.0","result":{}}),
                MessageError::MissingMethod,
            ),
            (
                json!({"jsonrpc":"2.0","id":1,"result":{},"error":{}}),
                MessageError::MissingMethod,
            ),
        ];
        for (body, want) in cases {
            assert_eq!(McpMessage::parse(&body), Err(want), "{body}");
        }
    }

    impl McpMessage {
        fn with_id(mut self, id: Value) -> Self {
            self.id = Some(id);
            self
        }
    }
}
