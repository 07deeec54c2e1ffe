use http::Request;

use super::*;

fn target(method: &str, uri: &str) -> Result<Target, TargetError> {
    let (parts, ()) = Request::builder()
        .method(method)
        .uri(uri)
        .body(())
        .unwrap()
        .into_parts();
    parse(&parts)
}

fn named(ns: &str, name: &str, rest: &str) -> Target {
    Target::Named {
        namespace: ns.into(),
        name: name.into(),
        rest: rest.into(),
    }
}

#[test]
fn reads_absolute_form_requests() {
    let t = target("POST", "http://mcp.tools.svc:8080/mcp?x=1").unwrap();
    assert_eq!(
        t,
        Target::Absolute {
            authority: "mcp.tools.svc:8080".into(),
            path: "/mcp?x=1".into()
        }
    );
    assert_eq!(
        target("GET", "https://example.com/"),
        Err(TargetError::Scheme)
    );
}

#[test]
fn reads_backend_references() {
    assert_eq!(
        target("POST", "/backends/tools/mcp/mcp").unwrap(),
        named("tools", "mcp", "/mcp")
    );
    assert_eq!(
        target("POST", "/backends/tools/mcp").unwrap(),
        named("tools", "mcp", "")
    );
    assert_eq!(
        target("POST", "/backends/tools/mcp?a=b").unwrap(),
        named("tools", "mcp", "?a=b")
    );
    assert_eq!(
        target("POST", "/backends/tools/my.agent/").unwrap(),
        named("tools", "my.agent", "/")
    );
    // HTTP/2 requests carry an authority: the sidecar's own (loopback) one names a backend.
    assert_eq!(
        target("POST", "http://127.0.0.1:15001/backends/a/b/x").unwrap(),
        named("a", "b", "/x")
    );
    assert!(matches!(
        target("POST", "http://example.com/backends/a/b/x").unwrap(),
        Target::Absolute { .. }
    ));
}

#[test]
fn rejects_bad_backend_references_and_paths() {
    for uri in [
        "/backends/tools",
        "/backends/Tools/mcp/",
        "/backends//mcp/",
        "/backends/tools/-x/",
    ] {
        assert!(
            matches!(target("POST", uri), Err(TargetError::BackendRef(_))),
            "{uri}"
        );
    }
    for uri in [
        "/backends/a/b/../admin",
        "/backends/a/b/%2e%2e/admin",
        "http://h/a/%2Fb",
        "http://h/a/./b",
    ] {
        assert!(
            matches!(target("GET", uri), Err(TargetError::Path(_))),
            "{uri}"
        );
    }
    assert_eq!(target("GET", "/mcp"), Err(TargetError::NotProxied));
}

#[test]
fn reads_connect_authorities() {
    assert_eq!(
        target("CONNECT", "example.com:443").unwrap(),
        Target::Connect {
            authority: "example.com:443".into()
        }
    );
}

#[test]
fn maps_backend_paths() {
    assert_eq!(upstream_path("", "/mcp"), "/mcp");
    assert_eq!(upstream_path("/", "/mcp"), "/mcp");
    assert_eq!(upstream_path("?x=1", "/mcp"), "/mcp?x=1");
    assert_eq!(upstream_path("/other/mcp", "/mcp"), "/other/mcp");
}
