use serde_json::json;

use super::*;
use crate::request::{A2aMessage, BackendRef, HttpRequest, McpMessage, Message, Request};
use crate::source::Source;

fn request(message: Message) -> Request {
    let http = HttpRequest::new("POST", "/mcp?debug=1", "mcp.tools.svc:10001", 80)
        .unwrap()
        .with_header("MCP-Protocol-Version", "2025-06-18")
        .with_header("x-team", "a")
        .with_header("x-team", "b");
    let source = Source::from_spiffe_id("spiffe://cluster.local/ns/agents/sa/planner").unwrap();
    let mut req = Request::new(source, BackendRef::new("tools", "mcp"), http, message);
    req.time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600); // 2026-01-01
    req
}

fn tool(name: &str) -> Request {
    request(Message::Mcp(McpMessage::tool_call(name).with_arguments(
        json!({"repo": "k8s/kan", "n": 3, "tags": ["x"]}),
    )))
}

fn eval(expression: &str, req: &Request) -> Result<bool, String> {
    let mut compiler = CelCompiler::default();
    let rule = compiler.compile(expression)?;
    let engine = compiler.finish();
    engine.evaluate(&rule, &Activation::new(req, rule.needs, "cluster.local"))
}

#[test]
fn each_variable_has_a_valid_and_an_invalid_use() {
    let pairs = [
        (
            "request.mcp.tool_name == 'get-sum'",
            "request.mcp.toolname == 'get-sum'",
        ),
        (
            "request.path.startsWith('/mc')",
            "request.paths.startsWith('/mc')",
        ),
        ("request.url_path == '/mcp'", "request.urlpath == '/mcp'"),
        ("request.method == 'POST'", "request.verb == 'POST'"),
        (
            "request.host.endsWith(':10001')",
            "request.hostname.endsWith(':10001')",
        ),
        (
            "request.headers['mcp-protocol-version'].contains('2025')",
            "request.header['x'] == 'y'",
        ),
        (
            "request.time.getFullYear() == 2026",
            "request.timestamp.getFullYear() == 2026",
        ),
        ("request.mcp.method == 'tools/call'", "request.mcp == {}"),
        (
            "request.mcp.arguments.repo == 'k8s/kan'",
            "request.mcp.args.repo == 'k8s/kan'",
        ),
        (
            "request.mcp.resource_uri.startsWith('file://')",
            "request.mcp.uri.startsWith('file://')",
        ),
        (
            "request.a2a.method == 'SendMessage'",
            "request.a2a.verb == 'SendMessage'",
        ),
        (
            "request.a2a.skill == 'summarize'",
            "request.a2a['skills'] == 'x'",
        ),
        (
            "source.spiffe_id.endsWith('/sa/planner')",
            "source.spiffe == 'x'",
        ),
        ("source.namespace == 'agents'", "source.ns == 'agents'"),
        (
            "source.service_account == 'planner'",
            "source.sa == 'planner'",
        ),
    ];
    for (valid, invalid) in pairs {
        assert!(CelCompiler::default().compile(valid).is_ok(), "{valid}");
        let err = CelCompiler::default().compile(invalid).unwrap_err();
        assert!(
            err.starts_with("Failed to compile CEL expression"),
            "{invalid}: {err}"
        );
        assert!(err.contains("unsupported CEL variable"), "{invalid}: {err}");
    }
}

#[test]
fn rejects_syntax_errors_undeclared_names_and_bad_regexes() {
    let cases = [
        (
            "request.mcp.tool_name ==",
            "Failed to compile CEL expression",
        ),
        (
            "metadata.filter_metadata['mcp_proxy'].params.name == 'x'",
            "undeclared reference to 'metadata'",
        ),
        ("tool == 'x'", "undeclared reference to 'tool'"),
        ("request == {}", "unsupported CEL variable request"),
        (
            "request[request.method] == 'x'",
            "unsupported CEL variable request",
        ),
        (
            "request.mcp.tool_name.matches('(')",
            "invalid regular expression",
        ),
    ];
    for (expression, want) in cases {
        let err = CelCompiler::default().compile(expression).unwrap_err();
        assert!(err.contains(want), "{expression}: {err}");
    }
    // A literal index is a static path, like a select.
    assert!(
        CelCompiler::default()
            .compile("request['url_path'] == '/'")
            .is_ok()
    );
}

#[test]
fn evaluates_upstreams_e2e_expressions() {
    let req = tool("get-sum");
    let cases = [
        ("request.mcp.tool_name == 'get-sum'", true),
        (
            "request.path.startsWith('/mc') && request.headers['mcp-protocol-version'].contains('2025') && request.mcp.tool_name.matches('^get-[a-z]+$')",
            true,
        ),
        ("request.method == 'POST'", true),
        ("request.mcp.tool_name.startsWith('verify_')", false),
        ("request.host.endsWith(':10001')", true),
        (
            "request.path == '/mcp?debug=1' && request.url_path == '/mcp'",
            true,
        ),
    ];
    for (expression, want) in cases {
        assert_eq!(eval(expression, &req), Ok(want), "{expression}");
    }
}

#[test]
fn supports_string_functions_in_maps_and_timestamps() {
    let req = tool("get-sum");
    let cases = [
        ("request.mcp.tool_name.endsWith('-sum')", true),
        ("request.mcp.tool_name.contains('t-s')", true),
        ("request.mcp.tool_name.matches('sum')", true),
        (
            "size(request.mcp.tool_name) == 7 && request.mcp.tool_name.size() == 7",
            true,
        ),
        ("request.mcp.tool_name in ['get-sum', 'echo']", true),
        (
            "'x-team' in request.headers && request.headers['x-team'] == 'a,b'",
            true,
        ),
        (
            "request.mcp.arguments.n > 2 && request.mcp.arguments.tags.exists(t, t == 'x')",
            true,
        ),
        (
            "request.mcp.arguments.repo in ['k8s/kan', 'k8s/gateway-api']",
            true,
        ),
        ("{'get-sum': 1}[request.mcp.tool_name] == 1", true),
        (
            "request.time.getFullYear() == 2026 && request.time > timestamp('2025-06-01T00:00:00Z')",
            true,
        ),
        ("request.mcp.tool_name.lowerAscii() == 'get-sum'", true),
        ("request.mcp.tool_name.matches('^' + 'get' + '-')", true),
        (
            "source.namespace == 'agents' && source.service_account == 'planner'",
            true,
        ),
        (
            "source.spiffe_id == 'spiffe://cluster.local/ns/agents/sa/planner'",
            true,
        ),
    ];
    for (expression, want) in cases {
        assert_eq!(eval(expression, &req), Ok(want), "{expression}");
    }
}

#[test]
fn absent_values_are_unbound_so_has_tells_and_comparisons_fail() {
    let init = request(Message::Mcp(McpMessage::new("initialize")));
    assert_eq!(eval("has(request.mcp.tool_name)", &init), Ok(false));
    assert_eq!(eval("request.mcp.method == 'initialize'", &init), Ok(true));
    assert!(eval("request.mcp.tool_name != 'rm'", &init).is_err());
    assert!(eval("request.headers['absent'] == 'x'", &init).is_err());
    assert_eq!(
        eval("request.mcp.tool_name", &tool("x")),
        Err("the expression returned String(\"x\"), not a bool".into())
    );
}

#[test]
fn binds_a2a_fields_with_v1_method_names() {
    let req = request(Message::A2a(
        A2aMessage::new("message/send").with_skill("summarize"),
    ));
    assert_eq!(
        eval(
            "request.a2a.method == 'SendMessage' && request.a2a.skill == 'summarize'",
            &req
        ),
        Ok(true)
    );
    assert_eq!(eval("has(request.mcp.method)", &req), Ok(false));
}

#[test]
fn source_kubernetes_fields_only_in_our_trust_domain() {
    let mut req = tool("x");
    req.source = Source::from_spiffe_id("spiffe://evil.example/ns/agents/sa/planner").unwrap();
    assert_eq!(eval("has(source.namespace)", &req), Ok(false));
    assert_eq!(
        eval(
            "source.spiffe_id.startsWith('spiffe://evil.example/')",
            &req
        ),
        Ok(true)
    );
    req.source = Source::anonymous();
    assert_eq!(eval("has(source.spiffe_id)", &req), Ok(false));
}

#[test]
fn comprehension_variables_shadow_nothing_outside_their_scope() {
    assert!(
        CelCompiler::default()
            .compile("[1, 2].all(x, x > 0)")
            .is_ok()
    );
    assert!(
        CelCompiler::default()
            .compile("[1].all(request, request > 0)")
            .is_ok()
    );
    assert!(
        CelCompiler::default()
            .compile("[1].all(x, x > 0) && x == 1")
            .is_err()
    );
    assert!(
        CelCompiler::default()
            .compile("type(request.method) == string")
            .is_ok()
    );
}

#[test]
fn records_what_each_expression_reads() {
    let rule = CelCompiler::default()
        .compile("request.mcp.tool_name == 'a'")
        .unwrap();
    assert!(!rule.admits_any_mcp_method() && !rule.admits_a2a());
    let rule = CelCompiler::default()
        .compile("request.mcp.method == 'tools/list'")
        .unwrap();
    assert!(rule.admits_any_mcp_method() && !rule.admits_a2a());
    let rule = CelCompiler::default()
        .compile("request.a2a.skill == 's'")
        .unwrap();
    assert!(rule.admits_a2a());
    assert!(!rule.needs.has(Needs::HEADERS));
}

#[test]
fn bounds_expression_size_and_depth_so_nothing_overflows() {
    let long = format!("{}1 == 2", "1 + ".repeat(MAX_LEN));
    let err = CelCompiler::default().compile(&long).unwrap_err();
    assert!(
        err.ends_with(&format!("longer than {MAX_LEN} bytes")),
        "{err}"
    );
    let deep = format!("{}1 == 2", "1 + ".repeat(validate::MAX_DEPTH + 1));
    let err = CelCompiler::default().compile(&deep).unwrap_err();
    assert!(
        err.ends_with(&format!("nests deeper than {} levels", validate::MAX_DEPTH)),
        "{err}"
    );
    let nested = format!("size({}1{}) == 1", "[".repeat(200), "]".repeat(200));
    assert!(CelCompiler::default().compile(&nested).is_err());
    let long_path = format!(
        "has(request.mcp.arguments{})",
        ".a".repeat(validate::MAX_DEPTH)
    );
    assert!(CelCompiler::default().compile(&long_path).is_err());
    // The deepest accepted expression evaluates without exhausting a test thread's stack
    // (2 MiB, unoptimized: the interpreter recurses once per level).
    let deepest = format!(
        "{}1 == 2 || request.mcp.tool_name == 'x'",
        "1 + ".repeat(validate::MAX_DEPTH - 4)
    );
    assert_eq!(eval(&deepest, &tool("x")), Ok(true));
}

/// We parse with cel's Pratt parser for speed; its ANTLR parser is the reference.
#[test]
fn the_fast_parser_builds_the_reference_parsers_ast() {
    let expressions = [
        "request.mcp.tool_name == 'get-sum'",
        "request.path.startsWith('/mc') && request.headers['mcp-protocol-version'].contains('2025') && request.mcp.tool_name.matches('^get-[a-z]+$')",
        "request.mcp.arguments.tags.exists(t, t == 'x') && has(request.mcp.tool_name)",
        "request.time.getFullYear() == 2026 && request.time > timestamp('2025-06-01T00:00:00Z')",
        "{'get-sum': 1}[request.mcp.tool_name] == 1 || [1, 2].all(x, x > 0) && !(1 in [2])",
        "request.mcp.method in ['initialize', 'tools/list'] ? true : size(request.mcp.tool_name) > 3u",
        "source.namespace == 'agents' && -1.5 < 2.0 && b'x' != b'y' && null == null",
    ];
    // Node ids may be numbered differently (map entries); the trees must not differ.
    let ids = regex::Regex::new(r"id: \d+").unwrap();
    let tree = |e: &cel::parser::Expression| ids.replace_all(&format!("{e:?}"), "id").into_owned();
    for expression in expressions {
        let reference = ENV.compile(expression).unwrap();
        let fast = PrattParser::new()
            .enable_optional_syntax(true)
            .parse(expression)
            .unwrap();
        assert_eq!(tree(&fast), tree(reference.expression()), "{expression}");
    }
}
