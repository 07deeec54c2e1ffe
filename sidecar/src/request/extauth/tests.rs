use agentnet_api::gateway::{
    ExternalAuthProtocol, ForwardBodyConfig, GrpcAuthConfig, HttpAuthConfig, HttpExternalAuthFilter,
};
use agentnet_policy::{BackendRef, HttpRequest, Message, Request, Source};
use prost_types::value::Kind;

use super::*;

fn parts() -> Parts {
    let (parts, ()) = ::http::Request::post("http://mcp.tools:8080/mcp?x=1")
        .header("authorization", "Bearer t")
        .header("x-tenant", "a")
        .header("mcp-session-id", "s")
        .body(())
        .unwrap()
        .into_parts();
    parts
}

fn request() -> Request {
    let http = HttpRequest::new("POST", "/mcp?x=1", "mcp.tools:8080", 80).unwrap();
    let source = Source::service_account("cluster.local", "agents", "agent").unwrap();
    Request::new(source, BackendRef::new("tools", "mcp"), http, Message::None)
}

fn filter(protocol: ExternalAuthProtocol) -> HttpExternalAuthFilter {
    HttpExternalAuthFilter {
        protocol,
        grpc: (protocol == ExternalAuthProtocol::Grpc).then(|| GrpcAuthConfig {
            allowed_headers: Some(vec!["X-Tenant".into()]),
        }),
        http: (protocol == ExternalAuthProtocol::Http).then(|| HttpAuthConfig {
            path: Some("/authz/".into()),
            allowed_headers: Some(vec!["x-tenant".into()]),
            allowed_response_headers: None,
        }),
        forward_body: Some(ForwardBodyConfig { max_size: Some(8) }),
        ..HttpExternalAuthFilter::default()
    }
}

const BODY: &[u8] = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","arguments":{"repoName":"r"}}}"#;

#[test]
fn grpc_checks_carry_the_principal_the_allowed_headers_and_the_mcp_message() {
    let (parts, body, req) = (parts(), Bytes::from_static(BODY), request());
    let input = CheckInput {
        parts: &parts,
        body: &body,
        request: &req,
    };
    let check = grpc::check_request(input, &filter(ExternalAuthProtocol::Grpc));
    let attributes = check.attributes.unwrap();
    assert_eq!(
        attributes.source.unwrap().principal,
        "spiffe://cluster.local/ns/agents/sa/agent"
    );
    let http = attributes.request.unwrap().http.unwrap();
    assert_eq!(
        (http.method.as_str(), http.path.as_str(), http.host.as_str()),
        ("POST", "/mcp?x=1", "mcp.tools:8080")
    );
    assert_eq!(http.headers.get("x-tenant").map(String::as_str), Some("a"));
    assert!(
        !http.headers.contains_key("authorization"),
        "only the allowed headers"
    );
    assert_eq!(
        http.body, r#"{"jsonrp"#,
        "the body up to forwardBody.maxSize"
    );
    let mcp = &attributes.metadata_context.unwrap().filter_metadata["mcp_proxy"];
    assert_eq!(
        mcp.fields["method"].kind,
        Some(Kind::StringValue("tools/call".into()))
    );
    assert_eq!(mcp.fields["id"].kind, Some(Kind::NumberValue(7.0)));
    let Some(Kind::StructValue(params)) = &mcp.fields["params"].kind else {
        panic!("params")
    };
    assert_eq!(
        params.fields["name"].kind,
        Some(Kind::StringValue("add".into()))
    );
    assert!(params.fields.contains_key("arguments"));
}

#[test]
fn http_checks_prefix_the_path_and_send_only_the_standard_and_allowed_headers() {
    let (parts, body, req) = (parts(), Bytes::from_static(BODY), request());
    let input = CheckInput {
        parts: &parts,
        body: &body,
        request: &req,
    };
    let r = http::authorization_request("127.0.0.1:9", input, &filter(ExternalAuthProtocol::Http))
        .unwrap();
    assert_eq!(r.uri().to_string(), "http://127.0.0.1:9/authz/mcp?x=1");
    let h = r.headers();
    assert_eq!(h["host"], "mcp.tools:8080");
    assert_eq!(h["authorization"], "Bearer t");
    assert_eq!(h["x-tenant"], "a");
    assert_eq!(h["content-length"], "8");
    assert!(h.get("mcp-session-id").is_none());
}

#[test]
fn errors_say_why_in_words() {
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_eq!(describe(&refused), "connection refused");
    let denied = ExternalAuthError::Denied {
        status: Some(403),
        message: Some("repo not allowed".into()),
    };
    assert_eq!(
        denied.to_string(),
        "ExternalAuth denied the request (status 403: repo not allowed)"
    );
    assert_eq!(denied.data().unwrap()["status"], 403);
    assert_eq!(
        ExternalAuthError::Unreachable("connection refused".into()).to_string(),
        "ExternalAuth unreachable: connection refused"
    );
}

#[test]
fn http_allows_copy_only_the_allowed_response_headers_upstream() {
    let answer = ::http::Response::builder()
        .header("x-authz-decision", "allow")
        .header("x-internal", "secret")
        .body(())
        .unwrap();
    let allowed = http::allow(&answer, &filter(ExternalAuthProtocol::Http));
    assert!(allowed.headers.is_empty(), "none listed: none copied");
    let mut config = filter(ExternalAuthProtocol::Http);
    config.http.as_mut().unwrap().allowed_response_headers = Some(vec!["X-Authz-Decision".into()]);
    let allowed = http::allow(&answer, &config);
    let names: Vec<&str> = allowed.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["x-authz-decision"]);
}

#[tokio::test]
async fn an_authorizer_that_never_answers_is_a_timeout_and_an_unresolved_one_is_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts and holds connections, never answering.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let service = agentnet_policy::AuthService {
        authority: "authz.tools.svc.cluster.local:9191".into(),
        port: 9191,
        cluster_ip: None,
        endpoints: vec![agentnet_policy::Endpoint {
            address: "127.0.0.1".into(),
            port,
        }],
    };
    let mut requirement = agentnet_policy::ExternalAuthRequirement {
        policy: agentnet_policy::PolicyRef::new("tools", "ext"),
        rule: None,
        config: std::sync::Arc::new(filter(ExternalAuthProtocol::Http)),
        service: std::sync::Arc::new(Ok(service)),
    };
    let (parts, body, req) = (parts(), Bytes::from_static(BODY), request());
    let input = CheckInput {
        parts: &parts,
        body: &body,
        request: &req,
    };
    let auth = ExternalAuth::new(Duration::from_millis(200));
    let err = auth.check(input, &requirement).await.unwrap_err();
    assert!(matches!(err, ExternalAuthError::Timeout(_)), "{err}");
    requirement.service = std::sync::Arc::new(Err("Service tools/authz not found".into()));
    let err = auth.check(input, &requirement).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "ExternalAuth not enforceable: Service tools/authz not found"
    );
}
