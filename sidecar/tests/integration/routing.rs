//! Destinations: backends by Service and cluster IP, external backends with TLS
//! origination, CONNECT tunnels, the outbound default and excluded ports.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::http::{post, read, send};
use crate::common::manifests::{MCP_AUTHORIZATION, allow_agent, external_backend, service_backend};
use crate::common::sidecar::Sidecar;
use crate::common::tls::TlsUpstream;
use crate::common::upstream::Upstream;

fn get(uri: &str) -> Request<Full<Bytes>> {
    let host = uri
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    Request::get(uri)
        .header("host", host)
        .body(Full::default())
        .unwrap()
}

fn connect(authority: &str) -> Request<Full<Bytes>> {
    Request::connect(authority)
        .header("host", authority)
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn other_destinations_follow_the_outbound_default() {
    let upstream = Upstream::start().await;
    let plain = format!("http://127.0.0.1:{}/hello", upstream.port);
    let open = Sidecar::start("", &[]).await;
    let reply = read(send(open.outbound, get(&plain)).await).await;
    assert_eq!(
        (reply.status.as_u16(), reply.text().as_str()),
        (200, "hello")
    );
    open.stop().await;

    let closed = Sidecar::start("", &["--outbound-default", "deny"]).await;
    let reply = read(send(closed.outbound, get("http://api.example.invalid/v1")).await).await;
    assert_eq!(reply.status.as_u16(), 403);
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("api.example.invalid") && message.contains("--outbound-default"),
        "{message}"
    );
    let seen = upstream.seen();
    assert_eq!(
        read(send(closed.outbound, get(&plain)).await)
            .await
            .status
            .as_u16(),
        403
    );
    assert_eq!(upstream.seen(), seen);
    closed.stop().await;
}

#[tokio::test]
async fn external_backends_get_verified_tls_with_sni_and_host() {
    let tls = TlsUpstream::start().await;
    let manifests = external_backend("tools", "remote", "localhost", tls.port);
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), &tls.ca_pem).unwrap();
    let sidecar = Sidecar::start(
        &manifests,
        &["--upstream-ca-file", ca.path().to_str().unwrap()],
    )
    .await;
    let ping = json!({"jsonrpc":"2.0","id":1,"method":"ping"});
    for url in [
        format!("http://localhost:{}/mcp", tls.port),
        sidecar.backend_url("tools", "remote", ""),
    ] {
        let reply = post(sidecar.outbound, &url, &ping, &[]).await;
        assert_eq!(reply.status.as_u16(), 200, "{url}: {}", reply.text());
        let host = format!("localhost:{}", tls.port);
        assert_eq!(
            reply.json()["result"],
            json!({"sni": "localhost", "host": host, "path": "/mcp"}),
            "{url}"
        );
    }
    sidecar.stop().await;

    // Without the CA the server certificate is not trusted: no request goes out.
    let untrusted = Sidecar::start(&manifests, &[]).await;
    let reply = post(
        untrusted.outbound,
        &format!("http://localhost:{}/mcp", tls.port),
        &ping,
        &[],
    )
    .await;
    assert_eq!(reply.status.as_u16(), 502, "{}", reply.text());
    assert!(
        reply.json()["message"].as_str().unwrap().contains("TLS"),
        "{}",
        reply.text()
    );
    assert!(
        untrusted
            .metrics()
            .await
            .contains(r#"agentnet_upstream_errors_total{backend="tools/remote",kind="tls"} 1"#)
    );
    untrusted.stop().await;
}

#[tokio::test]
async fn connect_is_refused_where_tool_rules_would_be_bypassed() {
    let upstream = Upstream::start().await;
    let manifests = service_backend("mcp", "tools", "mcp", 8080, upstream.port)
        + &allow_agent("tools", "agent-tools", "mcp", MCP_AUTHORIZATION);
    let sidecar = Sidecar::start(&manifests, &[]).await;
    let reply = read(send(sidecar.outbound, connect("mcp.tools:8080")).await).await;
    assert_eq!(reply.status.as_u16(), 403);
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("CONNECT to XBackend tools/mcp refused")
            && message.contains("/backends/tools/mcp/"),
        "{message}"
    );
    assert_eq!(upstream.seen(), 0);
    sidecar.stop().await;
}

#[tokio::test]
async fn connect_tunnels_to_other_destinations() {
    let upstream = Upstream::start().await;
    let authority = format!("127.0.0.1:{}", upstream.port);
    let sidecar = Sidecar::start("", &[]).await;
    let resp = send(sidecar.outbound, connect(&authority)).await;
    assert_eq!(resp.status().as_u16(), 200);
    let mut tunnel = TokioIo::new(hyper::upgrade::on(resp).await.unwrap());
    tunnel
        .write_all(
            format!("GET / HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = String::new();
    tunnel.read_to_string(&mut raw).await.unwrap();
    assert!(
        raw.starts_with("HTTP/1.1 200") && raw.ends_with("hello"),
        "{raw}"
    );
    sidecar.stop().await;

    let closed = Sidecar::start("", &["--outbound-default", "deny"]).await;
    assert_eq!(
        read(send(closed.outbound, connect(&authority)).await)
            .await
            .status
            .as_u16(),
        403
    );
    closed.stop().await;
}

#[tokio::test]
async fn excluded_ports_pass_through_without_policy() {
    let upstream = Upstream::start().await;
    let port = upstream.port.to_string();
    // A backend on that port whose policy admits nobody: by cluster IP it is the backend.
    let manifests = format!(
        "apiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {{name: local, namespace: tools}}\nspec: {{mcp: {{serviceName: local, port: {port}}}}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: local, namespace: tools}}\nspec: {{clusterIP: 127.0.0.1, ports: [{{port: {port}}}]}}\n{}",
        allow_agent(
            "tools",
            "nobody",
            "local",
            "      type: Inline\n      mcp: {methods: [{name: tools/call, params: [none]}]}"
        )
        .replace("name: agent}", "name: nobody}")
    );
    let uri = format!("http://127.0.0.1:{port}/mcp");
    let enforced = Sidecar::start(&manifests, &[]).await;
    let reply = read(send(enforced.outbound, get(&uri)).await).await;
    assert_eq!(reply.status.as_u16(), 403, "{}", reply.text());
    enforced.stop().await;
    let excluded = Sidecar::start(&manifests, &["--exclude-outbound-ports", &port]).await;
    let reply = read(send(excluded.outbound, get(&uri)).await).await;
    assert_eq!(
        (reply.status.as_u16(), reply.text().as_str()),
        (200, "hello")
    );
    excluded.stop().await;
}

#[tokio::test]
async fn http2_clients_use_both_ways_too() {
    let upstream = Upstream::start().await;
    let manifests = service_backend("mcp", "tools", "mcp", 8080, upstream.port);
    let sidecar = Sidecar::start(&manifests, &[]).await;
    let stream = tokio::net::TcpStream::connect(sidecar.outbound)
        .await
        .unwrap();
    let executor = hyper_util::rt::TokioExecutor::new();
    let (mut h2, conn) = hyper::client::conn::http2::handshake(executor, TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let ping = json!({"jsonrpc":"2.0","id":1,"method":"ping"}).to_string();
    let by_name = format!("http://{}/backends/tools/mcp/mcp", sidecar.outbound);
    for uri in ["http://mcp.tools:8080/mcp", by_name.as_str()] {
        let req = Request::post(uri).header("content-type", "application/json");
        let resp = h2
            .send_request(req.body(Full::new(Bytes::from(ping.clone()))).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2);
        let reply = read(resp).await.json();
        assert_eq!(reply["result"]["method"], "ping", "{uri}: {reply}");
    }
    assert_eq!(upstream.seen(), 2);
    sidecar.stop().await;
}

#[tokio::test]
async fn a_client_that_half_closes_after_its_request_still_gets_the_answer() {
    let upstream = Upstream::start().await;
    let sidecar = Sidecar::start("", &[]).await;
    let mut conn = tokio::net::TcpStream::connect(sidecar.outbound)
        .await
        .unwrap();
    let request = format!(
        "GET http://127.0.0.1:{port}/hello HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n",
        port = upstream.port
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    // `shutdown(SHUT_WR)`: the request is complete, the client only reads now.
    conn.shutdown().await.unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("hello"), "{reply}");
    sidecar.stop().await;
}
