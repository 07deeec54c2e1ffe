//! Snapshots from YAML (objects without a namespace land in `tools`), callers and
//! requests, so each table row reads like the policy it tests.

use agentnet_api::v0alpha0::XBackend;
use agentnet_api::v1alpha1::XAccessPolicy;
use agentnet_policy::{
    A2aMessage, BackendRef, Decision, HttpRequest, Index, McpMessage, Message, Request, Settings,
    Snapshot, Source, compile,
};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Deserialize;

pub const NS: &str = "tools";

/// The MCP backend most tests use: `tools/mcp`, Service `mcp-svc:8080`.
pub const MCP_BACKEND: &str = r#"---
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {name: mcp}
spec: {mcp: {serviceName: mcp-svc, port: 8080}}
"#;

/// An A2A backend: `tools/agent`, Service `agent-svc:9000`.
pub const A2A_BACKEND: &str = r#"---
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {name: agent}
spec: {a2a: {serviceName: agent-svc, port: 9000}}
"#;

pub fn snapshot(yaml: &str) -> Snapshot {
    let mut s = Snapshot::default();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let value = serde_yaml::Value::deserialize(doc).expect("YAML");
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().expect("kind").to_owned();
        match kind.as_str() {
            "XBackend" => s.backends.push(with_ns(
                serde_yaml::from_value::<XBackend>(value).expect("XBackend"),
            )),
            "XAccessPolicy" => s.policies.push(with_ns(
                serde_yaml::from_value::<XAccessPolicy>(value).expect("XAccessPolicy"),
            )),
            "Service" => s.services.push(with_ns(
                serde_yaml::from_value::<Service>(value).expect("Service"),
            )),
            "EndpointSlice" => s.endpoint_slices.push(with_ns(
                serde_yaml::from_value::<EndpointSlice>(value).expect("EndpointSlice"),
            )),
            other => panic!("unexpected kind {other}"),
        }
    }
    s
}

trait HasMeta {
    fn meta(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
}

macro_rules! has_meta {
    ($($t:ty),*) => {$(impl HasMeta for $t { fn meta(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta { &mut self.metadata } })*};
}
has_meta!(XBackend, XAccessPolicy, Service, EndpointSlice);

fn with_ns<T: HasMeta>(mut o: T) -> T {
    o.meta().namespace.get_or_insert_with(|| NS.to_owned());
    o
}

pub fn index(yaml: &str) -> Index {
    compile(&snapshot(yaml), &Settings::default())
}

pub fn index_with(yaml: &str, settings: &Settings) -> Index {
    compile(&snapshot(yaml), settings)
}

/// `spiffe://cluster.local/ns/<ns>/sa/<name>`.
pub fn sa(ns: &str, name: &str) -> Source {
    Source::service_account("cluster.local", ns, name).expect("valid")
}

pub fn mcp(method: &str) -> Message {
    Message::Mcp(McpMessage::new(method))
}

pub fn tool(name: &str) -> Message {
    Message::Mcp(McpMessage::tool_call(name))
}

pub fn a2a(method: &str, skill: Option<&str>) -> Message {
    let mut m = A2aMessage::new(method);
    m.skill = skill.map(str::to_owned);
    Message::A2a(m)
}

/// A POST to `tools/<backend>` at `mcp-svc.tools:8080/mcp`.
pub fn post(source: &Source, backend: &str, message: Message) -> Request {
    let http = HttpRequest::new("POST", "/mcp", "mcp-svc.tools:8080", 80).expect("valid");
    Request::new(source.clone(), BackendRef::new(NS, backend), http, message)
}

/// A request without a JSON-RPC body (GET stream, DELETE, agent card).
pub fn http(source: &Source, backend: &str, method: &str, path: &str, session: bool) -> Request {
    let mut h = HttpRequest::new(method, path, "mcp-svc.tools:8080", 80).expect("valid");
    if session {
        h = h.with_header("mcp-session-id", "s-1");
    }
    Request::new(
        source.clone(),
        BackendRef::new(NS, backend),
        h,
        Message::None,
    )
}

pub fn allowed(index: &Index, req: &Request) -> bool {
    index.decide(req).is_allowed()
}

pub fn decide(index: &Index, req: &Request) -> Decision {
    index.decide(req)
}

/// An Allow policy on `tools/mcp` with the given rules (YAML list items, indented 2).
pub fn allow(name: &str, rules: &str) -> String {
    format!(
        "---\napiVersion: agentic.networking.x-k8s.io/v1alpha1\nkind: XAccessPolicy\nmetadata: {{name: {name}}}\nspec:\n  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}}]\n  action: Allow\n  rules:\n{rules}\n"
    )
}
