use std::convert::Infallible;

use agentnet_policy::{BackendRef, HttpRequest, McpMessage, Message, Source};
use futures::channel::mpsc;
use http_body_util::{BodyExt, Full};
use serde_json::json;

use super::*;
use crate::testing::{BACKENDS, index};

const POLICY: &str = r#"
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {name: agents, namespace: tools}
spec:
  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]
  action: Allow
  rules:
  - name: add-only
    source: {type: ServiceAccount, serviceAccount: {namespace: agents, name: agent}}
    authorization:
      type: Inline
      mcp:
        mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS
        methods: [{name: tools/call, params: [add]}]
"#;

fn filter() -> ListFilter {
    let index = Arc::new(index(&format!("{BACKENDS}{POLICY}")));
    let source = Source::service_account("cluster.local", "agents", "agent").unwrap();
    let http = HttpRequest::new("POST", "/mcp", "mcp.tools:8080", 80).unwrap();
    let request = Request::new(
        source,
        BackendRef::new("tools", "mcp"),
        http,
        Message::Mcp(McpMessage::new("tools/list")),
    );
    ListFilter {
        index,
        request,
        id: Some(json!(5)),
        limit: 4096,
    }
}

fn list(id: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"result":{"tools":[{"name":"add"},{"name":"echo"},{"name":"get-secret"}]}})
}

fn tools(v: &Value) -> Vec<&str> {
    v["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

fn response(content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .header("content-type", content_type)
        .header("content-length", "999")
        .body(Full::new(body.into()))
        .unwrap()
}

#[tokio::test]
async fn filters_a_json_list_to_what_the_caller_may_call() {
    let resp = super::response(
        response("application/json", list(json!(5)).to_string()),
        filter(),
    )
    .await
    .unwrap();
    assert!(resp.headers().get("content-length").is_none());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(tools(&serde_json::from_slice(&body).unwrap()), ["add"]);
}

#[tokio::test]
async fn leaves_other_responses_alone_and_fails_closed_on_bad_ones() {
    let other = list(json!(6)).to_string();
    let resp = super::response(response("application/json", other.clone()), filter())
        .await
        .unwrap();
    assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), other);
    let err = super::response(response("application/json", "{not json"), filter())
        .await
        .unwrap_err();
    assert!(matches!(err, FilterError::NotJson));
    let huge =
        json!({"jsonrpc":"2.0","id":5,"result":{"tools":[{"name":"x".repeat(5000)}]}}).to_string();
    let err = super::response(response("application/json", huge), filter())
        .await
        .unwrap_err();
    assert!(matches!(err, FilterError::TooLarge { limit: 4096 }));
    let shape = json!({"jsonrpc":"2.0","id":5,"result":{"prompts":[]}}).to_string();
    assert!(matches!(
        super::response(response("application/json", shape), filter()).await,
        Err(FilterError::Shape(_))
    ));
}

#[tokio::test]
async fn rewrites_only_the_list_event_of_a_stream_as_events_arrive() {
    let (tx, rx) = mpsc::unbounded::<Result<Frame<Bytes>, Infallible>>();
    let upstream = Response::builder()
        .header("content-type", "text/event-stream")
        .body(StreamBody::new(rx))
        .unwrap();
    let mut body = super::response(upstream, filter())
        .await
        .unwrap()
        .into_body();
    let send = |s: &str| {
        tx.unbounded_send(Ok(Frame::data(Bytes::from(s.to_owned()))))
            .unwrap()
    };

    send(
        "id: 1\ndata: \n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\nevent: mess",
    );
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(
        first, "id: 1\ndata: \n\n",
        "the priming event arrives before the stream ends"
    );
    let second = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(second.starts_with(b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\""));

    send(&format!(
        "age\ndata: {}\n\nevent: message\ndata: after\n\n",
        list(json!(5))
    ));
    let third = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let data = crate::request::codec::sse::data(&third).unwrap();
    assert_eq!(tools(&serde_json::from_str(&data).unwrap()), ["add"]);
    assert!(third.starts_with(b"event: message\n"));
    assert_eq!(
        body.frame().await.unwrap().unwrap().into_data().unwrap(),
        "event: message\ndata: after\n\n"
    );
    drop(tx);
    assert!(body.frame().await.is_none());
}

#[test]
fn keeps_entries_verbatim_and_decides_on_the_name_a_json_parser_sees() {
    let body = concat!(
        r#"{"jsonrpc":"2.0","id":5,"result":{"nextCursor":"c","tools":["#,
        r#"{"name":"add","inputSchema":{"type":"object","big":123456789012345678901234567890}},"#,
        r#"{"name":"a\u0064d", "title":"escaped"},"#,
        r#"{"name":"add","name":"get-secret"},"#,
        r#"{"name":"get-secret","name":"add","x":1},"#,
        r#"{"name":7},{"title":"nameless"},"add",[1],null"#,
        r#"]}}"#
    );
    let out = filter().json(body.as_bytes()).unwrap();
    let out = std::str::from_utf8(&out).unwrap();
    let want = concat!(
        r#"{"id":5,"jsonrpc":"2.0","result":{"nextCursor":"c","tools":["#,
        r#"{"name":"add","inputSchema":{"type":"object","big":123456789012345678901234567890}},"#,
        r#"{"name":"a\u0064d", "title":"escaped"},"#,
        r#"{"name":"get-secret","name":"add","x":1}"#,
        r#"]}}"#
    );
    assert_eq!(out, want);
}

#[test]
fn passes_json_that_is_not_the_list_response_unchanged() {
    for body in [
        r#"[1,2]"#,
        r#""text""#,
        r#"{"id":null,"result":{"tools":[]}}"#,
        r#"{"id":"5","result":{}}"#,
        r#"{"id":5,"error":{"code":1}}"#,
    ] {
        assert_eq!(filter().json(body.as_bytes()).unwrap(), body, "{body}");
    }
    for body in [
        r#"{"id":5,"result":[]}"#,
        r#"{"id":5,"result":{"tools":{}}}"#,
    ] {
        assert!(
            matches!(filter().json(body.as_bytes()), Err(FilterError::Shape(_))),
            "{body}"
        );
    }
    assert!(matches!(
        filter().json(b"{\"id\":5,"),
        Err(FilterError::NotJson)
    ));
    assert!(matches!(filter().json(b"\xff"), Err(FilterError::NotJson)));
}
