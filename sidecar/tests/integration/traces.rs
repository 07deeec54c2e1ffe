//! Traces: the sidecar's spans, received by an in-test OTLP/gRPC TraceService, carry
//! proposal 0033's and the MCP semantic conventions' attributes, keep the caller's
//! trace (from the `traceparent` header or the MCP `_meta`), and nest as request →
//! authorization → rule.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::json;

use crate::common::eventually;
use crate::common::http::post;
use crate::common::manifests::service_backend;
use crate::common::sidecar::Sidecar;
use crate::common::upstream::Upstream;

const URL: &str = "http://mcp.tools:8080/mcp";
const T1: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const S1: &str = "00f067aa0ba902b7";
const T2: &str = "0af7651916cd43dd8448eb211c80319c";
const S2: &str = "b7ad6b7169203331";

/// Collects every exported span.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.0.lock().unwrap().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

async fn receiver() -> (SocketAddr, Receiver) {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let receiver = Receiver::default();
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve(addr),
    );
    eventually(
        "the OTLP receiver to listen",
        Duration::from_secs(10),
        || async move { tokio::net::TcpStream::connect(addr).await.ok() },
    )
    .await;
    (addr, receiver)
}

const POLICY: &str = r#"
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {name: tools-policy, namespace: tools}
spec:
  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]
  action: Allow
  rules:
  - name: other-agent
    source: {type: ServiceAccount, serviceAccount: {namespace: agents, name: other}}
  - name: agent
    source: {type: ServiceAccount, serviceAccount: {namespace: agents, name: agent}}
    authorization: {type: Inline, mcp: {methods: [{name: tools/call, params: [add]}]}}
"#;

fn attr(span: &Span, key: &str) -> Option<String> {
    let kv = span.attributes.iter().find(|kv| kv.key == key)?;
    Some(match kv.value.as_ref()?.value.as_ref()? {
        Any::StringValue(s) => s.clone(),
        Any::IntValue(i) => i.to_string(),
        Any::BoolValue(b) => b.to_string(),
        other => format!("{other:?}"),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn find<'s>(spans: &'s [Span], name: &str, trace: &str) -> Vec<&'s Span> {
    spans
        .iter()
        .filter(|s| s.name == name && hex(&s.trace_id) == trace)
        .collect()
}

fn children<'s>(spans: &'s [Span], parent: &Span) -> Vec<&'s Span> {
    spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_id)
        .collect()
}

#[tokio::test]
async fn spans_carry_the_callers_trace_the_rules_evaluated_and_the_outcome() {
    let (addr, received) = receiver().await;
    let upstream = Upstream::start().await;
    let manifests = service_backend("mcp", "tools", "mcp", 8080, upstream.port) + POLICY;
    let endpoint = format!("http://{addr}");
    let sidecar = Sidecar::start(&manifests, &["--otlp-endpoint", &endpoint]).await;
    let add = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{}}});
    let traceparent = format!("00-{T1}-{S1}-01");
    let headers = [
        ("traceparent", traceparent.as_str()),
        ("mcp-session-id", "session-1"),
    ];
    let reply = post(sidecar.outbound, URL, &add, &headers).await;
    assert_eq!(
        reply.json()["result"]["method"],
        "tools/call",
        "{}",
        reply.text()
    );
    let meta = format!("00-{T2}-{S2}-01");
    let echo = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","_meta":{"traceparent": meta}}});
    assert_eq!(
        post(sidecar.outbound, URL, &echo, &[]).await.json()["error"]["code"],
        403
    );
    sidecar.stop().await; // flushes the exporter
    let spans = eventually("both request spans", Duration::from_secs(15), || {
        let spans = received.0.lock().unwrap().clone();
        async move {
            let both = !find(&spans, "mcp.gateway.request", T1).is_empty()
                && !find(&spans, "mcp.gateway.request", T2).is_empty();
            both.then_some(spans)
        }
    })
    .await;

    let request = find(&spans, "mcp.gateway.request", T1)[0];
    assert_eq!(
        hex(&request.parent_span_id),
        S1,
        "the header's traceparent is the parent"
    );
    for (key, want) in [
        ("mcp.method.name", "tools/call"),
        ("gen_ai.tool.name", "add"),
        ("mcp.session.id", "session-1"),
        ("security_rule.name", "agent"),
        ("event.action", "allow"),
        ("event.outcome", "success"),
        ("http.response.status_code", "200"),
    ] {
        assert_eq!(
            attr(request, key).as_deref(),
            Some(want),
            "{key}: {request:?}"
        );
    }
    let under_request = children(&spans, request);
    let names: Vec<&str> = under_request.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"mcp.authorization") && names.contains(&"mcp.upstream"),
        "{names:?}"
    );
    let authz = under_request
        .iter()
        .find(|s| s.name == "mcp.authorization")
        .unwrap();
    let rules: Vec<(String, String)> = children(&spans, authz)
        .iter()
        .map(|s| {
            (
                attr(s, "security_rule.name").unwrap(),
                attr(s, "security_rule.match").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            ("other-agent".into(), "false".into()),
            ("agent".into(), "true".into())
        ]
    );

    let denied = find(&spans, "mcp.gateway.request", T2)[0];
    assert_eq!(
        hex(&denied.parent_span_id),
        S2,
        "the _meta traceparent is the parent"
    );
    assert_eq!(attr(denied, "event.action").as_deref(), Some("deny"));
    assert_eq!(
        attr(denied, "error.type").as_deref(),
        Some("PermissionDeniedError")
    );
    assert_eq!(attr(denied, "gen_ai.tool.name").as_deref(), Some("echo"));
    let authz = children(&spans, denied)
        .into_iter()
        .find(|s| s.name == "mcp.authorization")
        .unwrap();
    let last = children(&spans, authz)
        .into_iter()
        .filter_map(|s| attr(s, "security_rule.name"))
        .collect::<Vec<_>>();
    assert!(last.contains(&"default-deny".to_owned()), "{last:?}");
}
