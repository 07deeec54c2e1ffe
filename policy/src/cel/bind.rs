//! Binds a request to CEL's `request` and `source` variables, borrowing its strings.
//! Only the variables some expression reads are bound; absent values (no tool name, a
//! caller without an identity) are left out, so `has()` tells and comparisons fail.

use std::collections::HashMap;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelTimestamp,
    CelUInt,
};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Needs;
use crate::request::Request;

/// The variables of one request, built once and shared by every CEL rule it meets.
pub(crate) struct Activation<'r> {
    request: Box<dyn Val + 'r>,
    source: Box<dyn Val + 'r>,
}

type Fields<'r> = HashMap<CelMapKey<'r>, Box<dyn Val + 'r>>;

// === impl Activation ===

impl<'r> Activation<'r> {
    pub fn new(req: &'r Request, needs: Needs, trust_domain: &str) -> Self {
        let mut request = http_fields(req, needs);
        if needs.has(Needs::MCP) {
            request.insert("mcp".into(), Box::new(CelMap::from(mcp_fields(req, needs))));
        }
        if needs.has(Needs::A2A) {
            request.insert("a2a".into(), Box::new(CelMap::from(a2a_fields(req, needs))));
        }
        Activation {
            request: Box::new(CelMap::from(request)),
            source: Box::new(CelMap::from(source_fields(req, needs, trust_domain))),
        }
    }
}

impl VariableResolver for Activation<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        match variable {
            "request" => Some(CowVal::Borrowed(&*self.request)),
            "source" => Some(CowVal::Borrowed(&*self.source)),
            _ => None,
        }
    }
}

/// A `request` field: the variable that needs it, its key, how to bind it.
type Field = (
    Needs,
    &'static str,
    for<'a> fn(&'a Request) -> Box<dyn Val + 'a>,
);

const HTTP_FIELDS: [Field; 6] = [
    (Needs::PATH, "path", |r| {
        Box::new(CelString::from(r.http.path_and_query()))
    }),
    (Needs::URL_PATH, "url_path", |r| string(&r.http.path)),
    (Needs::METHOD, "method", |r| string(&r.http.method)),
    (Needs::HOST, "host", |r| string(&r.http.authority)),
    (Needs::HEADERS, "headers", headers),
    (Needs::TIME, "time", timestamp),
];

fn http_fields(req: &Request, needs: Needs) -> Fields<'_> {
    let wanted = HTTP_FIELDS
        .into_iter()
        .filter(|(need, ..)| needs.has(*need));
    wanted
        .map(|(_, key, bind)| (CelMapKey::from(key), bind(req)))
        .collect()
}

fn timestamp(req: &Request) -> Box<dyn Val + '_> {
    let time: DateTime<Utc> = req.time.into();
    Box::new(CelTimestamp::from(time.fixed_offset()))
}

/// Lower-case names; repeated headers joined with `,`.
fn headers(req: &Request) -> Box<dyn Val + '_> {
    let joined = req.http.headers.iter_joined();
    let map: Fields<'_> = joined
        .map(|(n, v)| {
            (
                CelMapKey::from(n),
                Box::new(CelString::from(v)) as Box<dyn Val>,
            )
        })
        .collect();
    Box::new(CelMap::from(map))
}

fn mcp_fields(req: &Request, needs: Needs) -> Fields<'_> {
    let mut fields = Fields::new();
    let Some(m) = req.mcp() else { return fields };
    if needs.has(Needs::MCP_METHOD) && !m.method.is_empty() {
        fields.insert("method".into(), string(&m.method));
    }
    if let Some(name) = m.name.as_deref().filter(|_| needs.has(Needs::MCP_TOOL)) {
        fields.insert("tool_name".into(), string(name));
    }
    if let Some(uri) = m.uri.as_deref().filter(|_| needs.has(Needs::MCP_URI)) {
        fields.insert("resource_uri".into(), string(uri));
    }
    if let Some(args) = m.arguments.as_ref().filter(|_| needs.has(Needs::MCP_ARGS)) {
        fields.insert("arguments".into(), json(args));
    }
    fields
}

fn a2a_fields(req: &Request, needs: Needs) -> Fields<'_> {
    let mut fields = Fields::new();
    let Some(m) = req.a2a() else { return fields };
    if needs.has(Needs::A2A_METHOD) {
        fields.insert("method".into(), string(m.method.as_str()));
    }
    if let Some(skill) = m.skill.as_deref().filter(|_| needs.has(Needs::A2A_SKILL)) {
        fields.insert("skill".into(), string(skill));
    }
    fields
}

fn source_fields<'r>(req: &'r Request, needs: Needs, trust_domain: &str) -> Fields<'r> {
    let mut fields = Fields::new();
    if let Some(id) = req
        .source
        .spiffe_id()
        .filter(|_| needs.has(Needs::SRC_SPIFFE))
    {
        fields.insert("spiffe_id".into(), string(id));
    }
    if let Some((ns, sa)) = req.source.kubernetes_in(trust_domain) {
        if needs.has(Needs::SRC_NS) {
            fields.insert("namespace".into(), string(ns));
        }
        if needs.has(Needs::SRC_SA) {
            fields.insert("service_account".into(), string(sa));
        }
    }
    fields
}

fn string(s: &str) -> Box<dyn Val + '_> {
    Box::new(CelString::from(s))
}

/// JSON as CEL values: integers stay integers, as cel-go's protobuf Struct would not
/// (it makes every number a double); `1 == 1.0` holds either way.
fn json(value: &Value) -> Box<dyn Val + '_> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            _ => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => string(s),
        Value::Array(items) => Box::new(CelList::from(items.iter().map(json).collect::<Vec<_>>())),
        Value::Object(map) => {
            let fields: Fields<'_> = map
                .iter()
                .map(|(k, v)| (CelMapKey::from(k.as_str()), json(v)))
                .collect();
            Box::new(CelMap::from(fields))
        }
    }
}
