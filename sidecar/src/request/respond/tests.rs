use agentnet_policy::MessageError;
use http_body_util::BodyExt;
use pretty_assertions::assert_eq;

use super::*;

async fn parts(resp: Response<ProxyBody>) -> (StatusCode, String, Value) {
    let status = resp.status();
    let content_type = resp.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, serde_json::from_slice(&body).unwrap())
}

fn denied(id: Option<Value>, protocol: Protocol) -> ProxyError {
    ProxyError::Denied(Box::new(Denial {
        id,
        protocol: Some(protocol),
        policy: Some("tools/p".into()),
        rule: None,
        reason: "no rule admits tool echo".into(),
        authorizer: None,
    }))
}

#[tokio::test]
async fn denies_mcp_requests_in_upstreams_shape_keeping_the_id_type() {
    for id in [json!("abc"), json!(42)] {
        let (status, content_type, body) =
            parts(denied(Some(id.clone()), Protocol::Mcp).into_response()).await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "application/json")
        );
        assert_eq!(
            body,
            json!({"jsonrpc":"2.0","id":id,"error":{"code":403,"message":"Access to this tool is forbidden.","data":{"policy":"tools/p","rule":null,"reason":"no rule admits tool echo"}}})
        );
    }
}

#[tokio::test]
async fn denies_notifications_and_plain_http_with_a_403() {
    let (status, _, body) = parts(denied(None, Protocol::Mcp).into_response()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({"error":"forbidden","message":"no rule admits tool echo","policy":"tools/p","rule":null})
    );
    let (_, _, a2a) = parts(denied(Some(json!(1)), Protocol::A2a).into_response()).await;
    assert_eq!(
        a2a["error"]["message"],
        "Access to this agent method is forbidden."
    );
}

#[tokio::test]
async fn answers_malformed_messages_with_json_rpc_errors() {
    let cases = [
        (
            CodecError::Parse("syntax error".into()),
            json!(null),
            -32700,
        ),
        (CodecError::Batch, json!(null), -32600),
        (
            CodecError::Invalid {
                id: Some(json!(3)),
                source: MessageError::Version,
            },
            json!(3),
            -32600,
        ),
        (
            CodecError::HeaderMismatch {
                id: Some(json!("x")),
                message: "Mcp-Name header does not match".into(),
            },
            json!("x"),
            -32020,
        ),
    ];
    for (err, id, code) in cases {
        let (status, _, body) = parts(ProxyError::Codec(err).into_response()).await;
        assert_eq!(
            (status, &body["id"], body["error"]["code"].as_i64()),
            (StatusCode::BAD_REQUEST, &id, Some(code))
        );
    }
}

#[tokio::test]
async fn maps_other_failures_to_statuses() {
    let (status, _, body) = parts(ProxyError::TooLarge { limit: 10 }.into_response()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload too large"))
    );
    let resp = ProxyError::NotSynced.into_response();
    assert_eq!(
        (resp.status(), &resp.headers()[header::RETRY_AFTER]),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            &HeaderValue::from_static("1")
        )
    );
    let outbound = ProxyError::Route(RouteError::OutboundDenied("evil.example:80".into()));
    let (status, _, body) = parts(outbound.into_response()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("evil.example:80")
    );
}
