use agentnet_api::v1alpha1::{BaseProtocolMethodsOption, McpAttributes, McpMethod};

use super::*;
use crate::request::{BackendRef, HttpRequest, McpMessage, Request};
use crate::source::Source;

fn rule(methods: &[(&str, &[&str])], option: BaseProtocolMethodsOption) -> McpMatch {
    let methods = methods
        .iter()
        .map(|(name, params)| McpMethod {
            name: (*name).into(),
            params: (!params.is_empty()).then(|| params.iter().map(|p| (*p).to_owned()).collect()),
        })
        .collect();
    McpMatch::compile(&McpAttributes {
        methods: Some(methods),
        base_protocol_methods: option,
    })
}

fn post(message: McpMessage) -> Request {
    let http = HttpRequest::new("POST", "/mcp", "svc", 80).unwrap();
    Request::new(
        Source::anonymous(),
        BackendRef::new("ns", "b"),
        http,
        Message::Mcp(message),
    )
}

fn http(method: &str, session: bool) -> Request {
    let mut http = HttpRequest::new(method, "/mcp", "svc", 80).unwrap();
    if session {
        http = http.with_header("Mcp-Session-Id", "abc");
    }
    Request::new(
        Source::anonymous(),
        BackendRef::new("ns", "b"),
        http,
        Message::None,
    )
}

use BaseProtocolMethodsOption::{Match, Skip};

#[test]
fn base_protocol_set_is_exact() {
    let base = [
        "initialize",
        "tools/list",
        "ping",
        "server/discover",
        "subscriptions/listen",
        "completion/complete",
        "logging/setLevel",
        "notifications/initialized",
        "notifications/cancelled",
    ];
    for method in base {
        assert!(is_base_protocol(&post(McpMessage::new(method))), "{method}");
    }
    let not_base = [
        "tools/call",
        "prompts/list",
        "resources/list",
        "resources/read",
        "initialized",
        "pings",
        "completion",
    ];
    for method in not_base {
        assert!(
            !is_base_protocol(&post(McpMessage::new(method))),
            "{method}"
        );
    }
    assert!(is_base_protocol(&http("GET", false)));
    assert!(is_base_protocol(&http("DELETE", true)));
    assert!(!is_base_protocol(&http("DELETE", false)));
    assert!(!is_base_protocol(&http("POST", false)));
}

#[test]
fn match_with_no_methods_admits_base_methods_only() {
    let m = McpMatch::compile(&McpAttributes {
        methods: None,
        base_protocol_methods: Match,
    });
    assert_eq!(m.matches(&post(McpMessage::new("initialize"))), Ok(()));
    assert_eq!(m.matches(&post(McpMessage::new("tools/list"))), Ok(()));
    assert_eq!(m.matches(&http("DELETE", true)), Ok(()));
    assert_eq!(
        m.matches(&post(McpMessage::tool_call("get-sum"))),
        Err(Mismatch::McpMethod)
    );
    assert_eq!(m.matches(&http("DELETE", false)), Err(Mismatch::McpMethod));
}

#[test]
fn skip_with_no_methods_admits_anything() {
    for methods in [None, Some(vec![])] {
        let m = McpMatch::compile(&McpAttributes {
            methods,
            base_protocol_methods: Skip,
        });
        assert_eq!(m.matches(&post(McpMessage::tool_call("anything"))), Ok(()));
        assert_eq!(m.matches(&http("PUT", false)), Ok(()));
    }
}

#[test]
fn skip_with_methods_listed_denies_base_methods() {
    let m = rule(&[("tools/call", &["get-sum"])], Skip);
    assert_eq!(
        m.matches(&post(McpMessage::new("initialize"))),
        Err(Mismatch::BaseMethodsSkipped)
    );
    assert_eq!(
        m.matches(&http("GET", false)),
        Err(Mismatch::BaseMethodsSkipped)
    );
    assert_eq!(m.matches(&post(McpMessage::tool_call("get-sum"))), Ok(()));
}

#[test]
fn categories_match_by_prefix_and_params_by_name() {
    let m = rule(&[("tools", &[]), ("prompts/get", &["greet"])], Skip);
    let cases = [
        (McpMessage::tool_call("x"), Ok(())),
        (McpMessage::new("tools/list"), Ok(())),
        (McpMessage::new("toolsx/call"), Err(Mismatch::McpMethod)),
        (McpMessage::new("prompts/get").with_name("greet"), Ok(())),
        (
            McpMessage::new("prompts/get").with_name("other"),
            Err(Mismatch::McpParams),
        ),
        (McpMessage::new("prompts/get"), Err(Mismatch::McpParams)),
        (McpMessage::new("prompts/list"), Err(Mismatch::McpMethod)),
    ];
    for (message, want) in cases {
        let method = message.method.clone();
        assert_eq!(m.matches(&post(message)), want, "{method}");
    }
}

#[test]
fn resources_match_by_uri_not_name() {
    let m = rule(
        &[
            ("resources/read", &["file:///a.txt"]),
            ("resources", &["mem://b"]),
        ],
        Skip,
    );
    let cases = [
        (
            McpMessage::new("resources/read").with_uri("file:///a.txt"),
            Ok(()),
        ),
        (
            McpMessage::new("resources/subscribe").with_uri("mem://b"),
            Ok(()),
        ),
        (
            McpMessage::new("resources/read")
                .with_uri("file:///secret")
                .with_name("file:///a.txt"),
            Err(Mismatch::McpParams),
        ),
        (McpMessage::new("resources/list"), Err(Mismatch::McpParams)),
    ];
    for (message, want) in cases {
        assert_eq!(m.matches(&post(message.clone())), want, "{message:?}");
    }
}

#[test]
fn client_responses_are_base_protocol() {
    let response = McpMessage {
        kind: JsonRpcKind::Response,
        ..McpMessage::new("")
    };
    assert_eq!(
        rule(&[("tools/call", &[])], Match).matches(&post(response.clone())),
        Ok(())
    );
    assert_eq!(
        rule(&[("tools/call", &[])], Skip).matches(&post(response)),
        Err(Mismatch::BaseMethodsSkipped)
    );
}
