use agentnet_policy::{A2aMethod, Message, MessageError, Protocol};
use bytes::Bytes;
use http::Request;
use http::request::Parts;
use serde_json::json;

use super::*;

fn parts(method: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = Request::builder()
        .method(method)
        .uri("http://mcp.tools:8080/mcp");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn mcp(headers: &[(&str, &str)], body: &str) -> Result<Call, CodecError> {
    classify(
        Protocol::Mcp,
        &parts("POST", headers),
        &Bytes::from(body.to_owned()),
    )
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":"a1","method":"tools/call","params":{"name":"add","arguments":{"a":1}}}"#;
const MODERN_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
const MODERN: &[(&str, &str)] = &[
    ("mcp-protocol-version", "2026-07-28"),
    ("mcp-method", "tools/call"),
    ("mcp-name", "add"),
];

#[test]
fn classifies_a_legacy_tool_call() {
    let call = mcp(&[("mcp-protocol-version", "2025-11-25")], CALL).unwrap();
    assert_eq!(
        (
            call.kind,
            call.id,
            call.method.as_deref(),
            call.target.as_deref()
        ),
        (
            CallKind::Request,
            Some(json!("a1")),
            Some("tools/call"),
            Some("add")
        )
    );
    assert!(matches!(&call.message, Message::Mcp(m) if m.name.as_deref() == Some("add")));
}

#[test]
fn tells_requests_from_notifications() {
    let list = mcp(
        &[],
        r#"{"jsonrpc":"2.0","id":2,"method":"resources/templates/list"}"#,
    )
    .unwrap();
    assert_eq!(list.kind, CallKind::Request);
    let note = mcp(
        &[],
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .unwrap();
    assert_eq!((note.kind, note.id), (CallKind::Notification, None));
}

#[test]
fn ambiguous_requests_are_rejected_before_any_decision() {
    let err = mcp(
        &[],
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","name":"get-secret"}}"#,
    )
    .unwrap_err();
    assert!(matches!(err, CodecError::Ambiguous(_)), "{err}");
}

#[test]
fn accepts_modern_requests_whose_headers_agree() {
    assert_eq!(mcp(MODERN, MODERN_CALL).unwrap().id, Some(json!(1)));
    let encoded = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "=?base64?YWRk?="),
    ];
    assert!(mcp(&encoded, MODERN_CALL).is_ok());
}

#[test]
fn rejects_headers_that_disagree_with_the_body() {
    let cases: &[&[(&str, &str)]] = &[
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "get-secret"),
        ],
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
            ("mcp-name", "add"),
        ],
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
        ],
        &[("mcp-protocol-version", "2026-07-28"), ("mcp-name", "add")],
        &[
            ("mcp-protocol-version", "2025-11-25"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "add"),
        ],
        &[("mcp-method", "tools/call"), ("mcp-name", "add")],
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "add"),
            ("mcp-name", "add"),
        ],
    ];
    for headers in cases {
        let err = mcp(headers, MODERN_CALL).unwrap_err();
        assert!(
            matches!(&err, CodecError::HeaderMismatch { id: Some(id), .. } if *id == json!(1)),
            "{headers:?}: {err}"
        );
    }
    // Legacy era: headers are optional, but one that is sent must agree.
    assert!(mcp(&[("mcp-name", "get-secret")], CALL).is_err());
    assert!(mcp(&[("mcp-method", "tools/list")], CALL).is_err());
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    assert!(matches!(
        mcp(&[("mcp-name", "add")], list),
        Err(CodecError::HeaderMismatch { .. })
    ));
}

#[test]
fn rejects_what_is_not_one_message() {
    assert!(matches!(mcp(&[], "{not json"), Err(CodecError::Parse(_))));
    assert!(matches!(mcp(&[], ""), Err(CodecError::Parse(_))));
    assert!(matches!(
        mcp(&[], &format!("[{CALL}]")),
        Err(CodecError::Batch)
    ));
    let bad = mcp(
        &[],
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":["add"]}}"#,
    )
    .unwrap_err();
    assert!(
        matches!(&bad, CodecError::Invalid { id: Some(id), source: MessageError::FieldType("name") } if *id == json!(3)),
        "{bad}"
    );
    let get = classify(
        Protocol::Mcp,
        &parts("GET", &[]),
        &Bytes::from_static(b"{}"),
    )
    .unwrap_err();
    assert!(matches!(get, CodecError::UnexpectedBody(_)));
}

#[test]
fn bodiless_requests_are_http_calls() {
    let get = classify(
        Protocol::Mcp,
        &parts("GET", &[("mcp-session-id", "s1")]),
        &Bytes::new(),
    )
    .unwrap();
    assert_eq!(get, Call::http());
    assert_eq!(get.reply_id(), None);
}

#[test]
fn classifies_a2a_methods_of_both_generations() {
    for method in ["message/send", "SendMessage"] {
        let body = json!({"jsonrpc":"2.0","id":9,"method":method,"params":{"message":{"metadata":{"skill":"summarize"}}}});
        let call = classify(
            Protocol::A2a,
            &parts("POST", &[]),
            &Bytes::from(body.to_string()),
        )
        .unwrap();
        assert_eq!(
            (call.method.as_deref(), call.target.as_deref()),
            (Some(method), Some("summarize"))
        );
        assert!(
            matches!(&call.message, Message::A2a(m) if m.method == A2aMethod::Known("SendMessage"))
        );
    }
}
