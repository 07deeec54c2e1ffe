use std::convert::Infallible;

use agentnet_policy::{BackendRef, HttpRequest, McpMessage, Message, Source};
use futures::channel::mpsc;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use super::*;
use crate::testing::{ADD_ONLY_POLICY, BACKENDS, index};

fn filter() -> ResponseFilter {
    let index = Arc::new(index(&format!("{BACKENDS}{ADD_ONLY_POLICY}")));
    let source = Source::service_account("cluster.local", "agents", "agent").unwrap();
    let http = HttpRequest::new("POST", "/mcp", "mcp.tools:8080", 80).unwrap();
    // Any request of the caller: lists are recognized by shape, not by pairing.
    let request = Request::new(
        source,
        BackendRef::new("tools", "mcp"),
        http,
        Message::Mcp(McpMessage::tool_call("add")),
    );
    ResponseFilter::new(index, request, 4096)
}

fn json(f: &ResponseFilter, body: &[u8]) -> Result<Bytes, FilterError> {
    Ok(f.json_body(body)?
        .unwrap_or_else(|| Bytes::copy_from_slice(body)))
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
async fn filters_lists_in_any_response_and_fails_closed_on_bad_ones() {
    // A list answering another request (or none) is filtered all the same.
    for id in [json!(6), json!("5"), Value::Null] {
        let resp = super::response(response("application/json", list(id).to_string()), filter())
            .await
            .unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(tools(&serde_json::from_slice(&body).unwrap()), ["add"]);
    }
    // Not JSON: no message for any client to read.
    let resp = super::response(response("application/json", "{not json"), filter())
        .await
        .unwrap();
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes(),
        "{not json"
    );
    let huge = json!({"jsonrpc":"2.0","id":5,"result":{"content":[{"text":"x".repeat(5000)}]}})
        .to_string();
    let err = super::response(response("application/json", huge), filter())
        .await
        .unwrap_err();
    assert!(matches!(err, FilterError::TooLarge { limit: 4096 }));
    let shape = json!({"jsonrpc":"2.0","id":5,"result":{"prompts":{}}}).to_string();
    assert!(matches!(
        super::response(response("application/json", shape), filter()).await,
        Err(FilterError::Shape(_))
    ));
    let mut gzip = response("application/json", &b"\x1f\x8b"[..]);
    gzip.headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    assert!(matches!(
        super::response(gzip, filter()).await,
        Err(FilterError::Encoded(_))
    ));
}

#[tokio::test]
async fn rewrites_every_list_event_of_a_stream_as_events_arrive() {
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
        "age\ndata: {}\n\nevent: message\ndata: {}\n\n",
        list(json!(5)),
        list(json!(77))
    ));
    let third = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let data = crate::request::codec::sse::data(&third).unwrap();
    assert_eq!(tools(&serde_json::from_str(&data).unwrap()), ["add"]);
    assert!(third.starts_with(b"event: message\n"));
    let fourth = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let data = crate::request::codec::sse::data(&fourth).unwrap();
    assert_eq!(
        tools(&serde_json::from_str(&data).unwrap()),
        ["add"],
        "every list event"
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
        r#"{"name":7},{"title":"nameless"},"add",[1],null"#,
        r#"]}}"#
    );
    let out = json(&filter(), body.as_bytes()).unwrap();
    let out = std::str::from_utf8(&out).unwrap();
    let want = concat!(
        r#"{"id":5,"jsonrpc":"2.0","result":{"nextCursor":"c","tools":["#,
        r#"{"name":"add","inputSchema":{"type":"object","big":123456789012345678901234567890}},"#,
        r#"{"name":"a\u0064d", "title":"escaped"}"#,
        r#"]}}"#
    );
    assert_eq!(out, want);
}

#[test]
fn ambiguous_messages_and_entries_are_withheld() {
    for body in [
        r#"{"jsonrpc":"2.0","id":5,"result":{"tools":[{"name":"add","name":"get-secret"}]}}"#,
        r#"{"jsonrpc":"2.0","id":5,"result":{"tools":[{"name":"add"}],"tools":[{"name":"get-secret"}]}}"#,
        r#"{"jsonrpc":"2.0","id":5,"Result":{"tools":[{"name":"get-secret"}]}}"#,
    ] {
        assert!(
            matches!(
                json(&filter(), body.as_bytes()),
                Err(FilterError::Ambiguous(_))
            ),
            "{body}"
        );
    }
}

#[test]
fn filters_every_list_of_a_result_and_every_message_of_a_batch() {
    let body = json!([
        {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"add"},{"name":"echo"}],"prompts":[{"name":"greet"}]}},
        {"jsonrpc":"2.0","id":2,"result":{"resources":[{"uri":"memo://private"}],"resourceTemplates":[{"uriTemplate":"memo://{x}"}]}}
    ])
    .to_string();
    let out: Value = serde_json::from_slice(&json(&filter(), body.as_bytes()).unwrap()).unwrap();
    assert_eq!(out[0]["result"]["tools"], json!([{"name":"add"}]));
    assert_eq!(out[0]["result"]["prompts"], json!([]));
    assert_eq!(out[1]["result"]["resources"], json!([]));
    assert_eq!(out[1]["result"]["resourceTemplates"], json!([]));
}

#[test]
fn passes_json_that_holds_no_list_unchanged() {
    for body in [
        r#"[1,2]"#,
        r#""text""#,
        r#"{"id":"5","result":{}}"#,
        r#"{"id":5,"result":[]}"#,
        r#"{"id":5,"error":{"code":1}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#,
    ] {
        assert_eq!(json(&filter(), body.as_bytes()).unwrap(), body, "{body}");
    }
    assert!(matches!(
        json(&filter(), br#"{"id":5,"result":{"tools":{}}}"#),
        Err(FilterError::Shape(_))
    ));
}

#[tokio::test]
async fn a_stream_event_that_is_not_a_message_ends_the_stream_and_odd_framing_is_read_as_clients_read_it()
 {
    let stream = |text: &'static str| {
        let upstream = Response::builder()
            .header("content-type", "text/event-stream")
            .body(Full::new(Bytes::from_static(text.as_bytes())))
            .unwrap();
        async move {
            super::response(upstream, filter())
                .await
                .unwrap()
                .into_body()
                .collect()
                .await
        }
    };
    assert!(
        stream("data: <html>\n\n").await.is_err(),
        "not JSON: withheld"
    );
    // A byte-order mark and lone carriage returns: the list is still found.
    let bom = format!("\u{FEFF}event: message\rdata: {}\r\r", list(json!(9)));
    let bom: &'static str = Box::leak(bom.into_boxed_str());
    let out = stream(bom).await.unwrap().to_bytes();
    let data = crate::request::codec::sse::data(&out).unwrap();
    assert_eq!(tools(&serde_json::from_str(&data).unwrap()), ["add"]);
}
