//! A2A JSON-RPC requests (v1.0 and v0.3 method names) into a policy message with its
//! method and skill.

use agentnet_policy::{A2aMessage, Message};
use serde_json::Value;

use super::{Call, CallKind, CodecError, jsonrpc};

pub fn classify(value: &Value) -> Result<Call, CodecError> {
    let message = A2aMessage::parse(value).map_err(|source| CodecError::Invalid {
        id: jsonrpc::id_of(value),
        source,
    })?;
    let method = value
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Call {
        kind: if message.id.is_some() {
            CallKind::Request
        } else {
            CallKind::Notification
        },
        id: message.id.clone(),
        method,
        target: message.skill.clone(),
        message: Message::A2a(message),
    })
}
