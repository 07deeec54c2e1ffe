//! The few protobuf messages of Envoy's ext_authz v3 API the sidecar sends and reads
//! (`envoy.service.auth.v3`, `envoy.config.core.v3.Metadata`, `google.rpc.Status`),
//! written with Envoy's field numbers so any ext_authz server (OPA-Envoy, Authorino)
//! decodes them. Unused fields are left out; protobuf skips what it does not know.

use std::collections::HashMap;

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value as PbValue};
use serde_json::Value;

/// The gRPC method ext_authz servers implement.
pub const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckRequest {
    #[prost(message, optional, tag = "1")]
    pub attributes: Option<AttributeContext>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeContext {
    #[prost(message, optional, tag = "1")]
    pub source: Option<Peer>,
    #[prost(message, optional, tag = "2")]
    pub destination: Option<Peer>,
    #[prost(message, optional, tag = "4")]
    pub request: Option<AttributeRequest>,
    #[prost(map = "string, string", tag = "10")]
    pub context_extensions: HashMap<String, String>,
    #[prost(message, optional, tag = "11")]
    pub metadata_context: Option<Metadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Peer {
    #[prost(string, tag = "2")]
    pub service: String,
    #[prost(string, tag = "4")]
    pub principal: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeRequest {
    #[prost(message, optional, tag = "1")]
    pub time: Option<prost_types::Timestamp>,
    #[prost(message, optional, tag = "2")]
    pub http: Option<HttpRequest>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpRequest {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub method: String,
    #[prost(map = "string, string", tag = "3")]
    pub headers: HashMap<String, String>,
    #[prost(string, tag = "4")]
    pub path: String,
    #[prost(string, tag = "5")]
    pub host: String,
    #[prost(string, tag = "6")]
    pub scheme: String,
    #[prost(string, tag = "7")]
    pub query: String,
    #[prost(int64, tag = "9")]
    pub size: i64,
    #[prost(string, tag = "10")]
    pub protocol: String,
    #[prost(string, tag = "11")]
    pub body: String,
}

/// `envoy.config.core.v3.Metadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metadata {
    #[prost(map = "string, message", tag = "1")]
    pub filter_metadata: HashMap<String, Struct>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<RpcStatus>,
    #[prost(oneof = "HttpResponse", tags = "2, 3")]
    pub http_response: Option<HttpResponse>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum HttpResponse {
    #[prost(message, tag = "2")]
    Denied(DeniedHttpResponse),
    #[prost(message, tag = "3")]
    Ok(OkHttpResponse),
}

/// `google.rpc.Status`: code 0 is OK.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeniedHttpResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<HttpStatus>,
    #[prost(message, repeated, tag = "2")]
    pub headers: Vec<HeaderValueOption>,
    #[prost(string, tag = "3")]
    pub body: String,
}

/// `envoy.type.v3.HttpStatus`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OkHttpResponse {
    /// Headers to add to (or set on) the upstream request.
    #[prost(message, repeated, tag = "2")]
    pub headers: Vec<HeaderValueOption>,
    #[prost(string, repeated, tag = "5")]
    pub headers_to_remove: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderValueOption {
    #[prost(message, optional, tag = "1")]
    pub header: Option<HeaderValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
    #[prost(bytes = "vec", tag = "3")]
    pub raw_value: Vec<u8>,
}

/// A JSON object as a protobuf `Struct` (anything else: an empty one).
pub fn to_struct(value: &Value) -> Struct {
    match value {
        Value::Object(map) => Struct {
            fields: map.iter().map(|(k, v)| (k.clone(), to_value(v))).collect(),
        },
        _ => Struct::default(),
    }
}

fn to_value(value: &Value) -> PbValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(to_value).collect(),
        }),
        Value::Object(_) => Kind::StructValue(to_struct(value)),
    };
    PbValue { kind: Some(kind) }
}

// === impl HeaderValue ===

impl HeaderValue {
    /// The value as text: `value`, else `raw_value` (Envoy's newer field).
    pub fn text(&self) -> String {
        if self.value.is_empty() {
            String::from_utf8_lossy(&self.raw_value).into_owned()
        } else {
            self.value.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use serde_json::json;

    use super::*;

    #[test]
    fn json_becomes_a_struct_with_every_kind() {
        let s =
            to_struct(&json!({"name": "x", "n": 2, "ok": true, "list": ["a"], "o": {"k": null}}));
        let kind = |k: &str| s.fields[k].kind.clone().unwrap();
        assert_eq!(kind("name"), Kind::StringValue("x".into()));
        assert_eq!(kind("n"), Kind::NumberValue(2.0));
        assert!(matches!(kind("list"), Kind::ListValue(l) if l.values.len() == 1));
        assert!(matches!(kind("o"), Kind::StructValue(o) if o.fields.contains_key("k")));
    }

    #[test]
    fn a_check_response_round_trips_with_envoys_field_numbers() {
        let denied = CheckResponse {
            status: Some(RpcStatus {
                code: 7,
                message: "no".into(),
            }),
            http_response: Some(HttpResponse::Denied(DeniedHttpResponse {
                status: Some(HttpStatus { code: 403 }),
                headers: vec![],
                body: "denied".into(),
            })),
        };
        let bytes = denied.encode_to_vec();
        // Field 1 (status), wire type 2: tag byte 0x0a; field 2 (denied): 0x12.
        assert_eq!(bytes[0], 0x0a);
        assert!(bytes.contains(&0x12));
        assert_eq!(CheckResponse::decode(bytes.as_slice()).unwrap(), denied);
    }
}
