use agentnet_api::v1alpha1::{
    AuthorizationRule, HeaderMatchType, HttpHeaderMatch, HttpMethod, HttpPathMatch, PathMatchType,
};

use super::*;

fn req(method: &str, path: &str, authority: &str) -> HttpRequest {
    HttpRequest::new(method, path, authority, 80)
        .unwrap()
        .with_header("X-Env", "prod")
        .with_header("x-tenant", "t-42")
}

fn path(type_: PathMatchType, value: &str) -> HttpPathMatch {
    HttpPathMatch {
        type_,
        value: value.into(),
    }
}

fn header(type_: HeaderMatchType, name: &str, value: &str) -> HttpHeaderMatch {
    HttpHeaderMatch {
        type_,
        name: name.into(),
        value: value.into(),
    }
}

fn compile(rule: AuthorizationRule) -> HttpMatch {
    HttpMatch::compile(&rule).unwrap()
}

#[test]
fn empty_lists_do_not_constrain() {
    let m = compile(AuthorizationRule::default());
    assert!(m.is_destination_only());
    assert_eq!(m.matches(&req("DELETE", "/x", "h:1")), Ok(()));
}

#[test]
fn methods_hosts_and_ports_match_any_listed() {
    let m = compile(AuthorizationRule {
        methods: Some(vec![HttpMethod::Get, HttpMethod::Post]),
        hosts: Some(vec!["mcp.example.com".into(), "*.tools.svc".into()]),
        ports: Some(vec![80, 8080]),
        ..Default::default()
    });
    let cases = [
        (req("POST", "/", "mcp.example.com"), Ok(())),
        (req("GET", "/", "a.b.tools.svc:8080"), Ok(())),
        (
            req("PUT", "/", "mcp.example.com"),
            Err(Mismatch::HttpMethod),
        ),
        (req("GET", "/", "tools.svc"), Err(Mismatch::Host)),
        (req("GET", "/", "other.example.com"), Err(Mismatch::Host)),
        (req("GET", "/", "mcp.example.com:9090"), Err(Mismatch::Port)),
    ];
    for (r, want) in cases {
        assert_eq!(m.matches(&r), want, "{r:?}");
    }
}

#[test]
fn paths_follow_gateway_api_semantics() {
    let cases = [
        (PathMatchType::Exact, "/mcp", "/mcp", true),
        (PathMatchType::Exact, "/mcp", "/mcp/", false),
        (PathMatchType::PathPrefix, "/mcp", "/mcp", true),
        (PathMatchType::PathPrefix, "/mcp", "/mcp/x", true),
        (PathMatchType::PathPrefix, "/mcp/", "/mcp", true),
        (PathMatchType::PathPrefix, "/mcp", "/mcpx", false),
        (PathMatchType::PathPrefix, "", "/anything", true),
        (PathMatchType::PathPrefix, "/", "/anything", true),
        (
            PathMatchType::RegularExpression,
            "/v[0-9]+/mcp",
            "/v2/mcp",
            true,
        ),
        (
            PathMatchType::RegularExpression,
            "/v[0-9]+/mcp",
            "/v2/mcp/extra",
            false,
        ),
    ];
    for (type_, value, p, want) in cases {
        let m = compile(AuthorizationRule {
            paths: Some(vec![path(type_, value)]),
            ..Default::default()
        });
        assert_eq!(
            m.matches(&req("GET", p, "h")).is_ok(),
            want,
            "{type_:?} {value} {p}"
        );
    }
}

#[test]
fn headers_must_all_match() {
    let both = vec![
        header(HeaderMatchType::Exact, "x-env", "prod"),
        header(HeaderMatchType::RegularExpression, "X-Tenant", "t-[0-9]+"),
    ];
    let m = compile(AuthorizationRule {
        headers: Some(both),
        ..Default::default()
    });
    assert_eq!(m.matches(&req("GET", "/", "h")), Ok(()));
    let r = HttpRequest::new("GET", "/", "h", 80)
        .unwrap()
        .with_header("x-env", "prod")
        .with_header("x-tenant", "t-x");
    assert_eq!(m.matches(&r), Err(Mismatch::Header("x-tenant".into())));
    let r = HttpRequest::new("GET", "/", "h", 80)
        .unwrap()
        .with_header("x-tenant", "t-1");
    assert_eq!(m.matches(&r), Err(Mismatch::Header("x-env".into())));
}

#[test]
fn bad_regexes_and_ports_are_compile_errors() {
    let bad_path = AuthorizationRule {
        paths: Some(vec![path(PathMatchType::RegularExpression, "(")]),
        ..Default::default()
    };
    assert!(
        HttpMatch::compile(&bad_path)
            .unwrap_err()
            .contains("invalid regular expression")
    );
    let bad_header = AuthorizationRule {
        headers: Some(vec![header(HeaderMatchType::RegularExpression, "a", "[")]),
        ..Default::default()
    };
    assert!(HttpMatch::compile(&bad_header).is_err());
    let bad_port = AuthorizationRule {
        ports: Some(vec![70000]),
        ..Default::default()
    };
    assert_eq!(
        HttpMatch::compile(&bad_port).unwrap_err(),
        "invalid port 70000"
    );
}
