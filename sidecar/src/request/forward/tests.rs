use http::{Request, Version};

use super::*;
use crate::testing::{BACKENDS, index};

#[test]
fn picks_ready_endpoints_in_turn_and_tls_for_external_hosts() {
    let index = index(BACKENDS);
    let f = Forwarder::new(Duration::from_secs(1), None).unwrap();
    let mcp = index.backend("tools", "mcp").unwrap();
    let picked: Vec<_> = (0..4).map(|_| f.pick(mcp).unwrap()).collect();
    let plain = |a: &str| Upstream::Plain { address: a.into() };
    assert_eq!(
        picked,
        [
            plain("10.1.0.1:9000"),
            plain("10.1.0.2:9000"),
            plain("10.1.0.1:9000"),
            plain("10.1.0.2:9000")
        ]
    );
    let remote = f.pick(index.backend("tools", "remote").unwrap()).unwrap();
    assert_eq!(
        remote,
        Upstream::Tls {
            hostname: "example.com".into(),
            port: 443
        }
    );
    assert_eq!(
        remote.uri("/mcp?x=1").unwrap().to_string(),
        "https://example.com:443/mcp?x=1"
    );
    assert_eq!(remote.host_header().unwrap(), "example.com");
}

#[test]
fn prepares_the_upstream_head() {
    let (mut parts, ()) = Request::builder()
        .uri("http://mcp.tools:8080/mcp")
        .header("host", "mcp.tools:8080")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "1")
        .header("proxy-authorization", "Basic c2VjcmV0")
        .header("mcp-session-id", "abc")
        .header("last-event-id", "7")
        .body(())
        .unwrap()
        .into_parts();
    prepare(
        &mut parts,
        Upstream::Plain {
            address: "10.1.0.1:9000".into(),
        }
        .uri("/mcp")
        .unwrap(),
        None,
    );
    assert_eq!(parts.uri, "http://10.1.0.1:9000/mcp");
    assert_eq!(parts.headers["host"], "mcp.tools:8080");
    for gone in ["connection", "x-hop", "proxy-authorization"] {
        assert!(!parts.headers.contains_key(gone), "{gone}");
    }
    assert_eq!(
        (
            parts.headers["mcp-session-id"].to_str().unwrap(),
            parts.headers["last-event-id"].to_str().unwrap()
        ),
        ("abc", "7")
    );
}

#[test]
fn an_http2_request_without_host_keeps_its_authority() {
    let (mut parts, ()) = Request::builder()
        .uri("http://mcp.tools:8080/mcp")
        .version(Version::HTTP_2)
        .body(())
        .unwrap()
        .into_parts();
    prepare(
        &mut parts,
        "http://10.1.0.1:9000/mcp".parse().unwrap(),
        None,
    );
    assert_eq!(
        (parts.headers["host"].to_str().unwrap(), parts.version),
        ("mcp.tools:8080", Version::HTTP_11)
    );
}

#[test]
fn an_unreadable_ca_file_is_a_clear_error() {
    let err = Forwarder::new(
        Duration::from_secs(1),
        Some(Path::new("/nonexistent/ca.pem")),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("reading --upstream-ca-file /nonexistent/ca.pem"),
        "{err}"
    );
}
