//! Workload certificates and mTLS, fast: sidecars certified by an in-process identity
//! service (rcgen CA behind real HTTPS), real TLS handshakes between them and with
//! hand-made clients. The e2e tests repeat the must-haves against agentnet-webhook's
//! real identity service and the real API server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentnet_sidecar::app::{self, Running};
use agentnet_sidecar::config::Cli;
use agentnet_sidecar::identity::{CertStore, Roots, Svid, TrustStore};
use bytes::Bytes;
use clap::Parser;
use http::Request;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::common::eventually;
use crate::common::http::{get, post, read};
use crate::common::identity::{Ca, IdentityService, flags, path};
use crate::common::upstream::Upstream;

const A: &str = "spiffe://cluster.local/ns/agents/sa/a";
const B: &str = "spiffe://cluster.local/ns/agents/sa/b";
const C: &str = "spiffe://cluster.local/ns/agents/sa/c";
const URL: &str = "http://b.agents:8080/mcp";

/// XBackend agents/b behind Service b (a peer expecting `peer` on `port`, when given),
/// and a policy that lets ServiceAccount agents/a call its tool `add`.
fn manifests(peer: Option<(&str, u16)>) -> String {
    let annotations = peer.map_or(String::new(), |(identity, port)| {
        format!(", annotations: {{agentnet.dev/peer-identity: '{identity}', agentnet.dev/peer-port: '{port}'}}")
    });
    format!(
        r#"
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {{name: b, namespace: agents}}
spec: {{mcp: {{serviceName: b, port: 8080}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: b, namespace: agents{annotations}}}
spec: {{ports: [{{port: 8080, name: http}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: b-1, namespace: agents, labels: {{kubernetes.io/service-name: b}}}}
addressType: IPv4
endpoints: [{{addresses: [127.0.0.1], conditions: {{ready: true}}}}]
ports: [{{name: http, port: 8080}}]
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {{name: b-callers, namespace: agents}}
spec:
  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: b}}]
  action: Allow
  rules:
  - name: a
    source: {{type: ServiceAccount, serviceAccount: {{name: a}}}}
    authorization:
      type: Inline
      mcp:
        mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS
        methods: [{{name: tools/call, params: [add]}}]
"#
    )
}

fn add() -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "add", "arguments": {}}})
}

struct MeshSidecar {
    running: Option<Running>,
    outbound: SocketAddr,
    admin: SocketAddr,
    inbound: Option<SocketAddr>,
    _dir: TempDir,
}

impl MeshSidecar {
    async fn start(manifests: &str, args: &[String]) -> MeshSidecar {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.yaml"), manifests).unwrap();
        let mut all = flags(&[
            ("--outbound-addr", "127.0.0.1:0"),
            ("--admin-addr", "127.0.0.1:0"),
            ("--inbound-addr", "127.0.0.1:0"),
            ("--config-dir", &path(dir.path())),
            ("--config-poll-interval", "50ms"),
            ("--drain-timeout", "2s"),
            ("--audit", "false"),
        ]);
        all.insert(0, "agentnet-sidecar".into());
        all.extend_from_slice(args);
        let running = app::start(Cli::try_parse_from(all).unwrap().run)
            .await
            .unwrap();
        MeshSidecar {
            outbound: running.outbound_addr,
            admin: running.admin_addr,
            inbound: running.inbound_addr,
            running: Some(running),
            _dir: dir,
        }
    }

    async fn ready(&self) {
        let admin = self.admin;
        eventually(
            "the sidecar to be ready",
            Duration::from_secs(20),
            || async move { get(admin, "/ready").await.status.is_success().then_some(()) },
        )
        .await;
    }

    async fn metrics(&self) -> String {
        get(self.admin, "/metrics").await.text()
    }

    async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.unwrap();
        }
    }
}

/// Sidecar B, certified as agents/b, serving agents/b inbound in front of `app`.
async fn sidecar_b(ids: &IdentityService, app: &Upstream) -> MeshSidecar {
    let mut args = ids.sidecar_flags("agents", "b");
    let forward = format!("127.0.0.1:{}", app.port);
    args.extend(flags(&[
        ("--inbound-backend", "agents/b"),
        ("--inbound-forward", &forward),
    ]));
    let b = MeshSidecar::start(&manifests(None), &args).await;
    b.ready().await;
    b
}

/// An mTLS client presenting `chain`/`key` (checked against `bundle`) that expects
/// the server to be B; one request, or the TLS error.
async fn mtls_call(
    to: SocketAddr,
    credentials: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    (id, bundle): (&str, &str),
    server_bundle: &str,
) -> std::io::Result<Value> {
    let mut connection = mtls_connect(to, credentials, (id, bundle), server_bundle).await?;
    connection.call().await
}

/// An HTTP/1.1 connection over mTLS to B.
struct MtlsConnection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    conn: tokio::task::JoinHandle<hyper::Result<()>>,
}

async fn mtls_connect(
    to: SocketAddr,
    (chain, key): (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    (id, bundle): (&str, &str),
    server_bundle: &str,
) -> std::io::Result<MtlsConnection> {
    let roots = Roots::from_pem(bundle.as_bytes()).unwrap();
    let store = CertStore::new();
    store.publish(Svid::validate(chain, key, id, &roots, SystemTime::now()).unwrap());
    let trust = TrustStore::new(Roots::from_pem(server_bundle.as_bytes()).unwrap());
    let config = agentnet_sidecar::tls::client_config(store, trust, B.into()).unwrap();
    let tcp = tokio::net::TcpStream::connect(to).await?;
    let name = ServerName::try_from("b.agents").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(std::io::Error::other)?;
    Ok(MtlsConnection {
        sender,
        conn: tokio::spawn(conn),
    })
}

impl MtlsConnection {
    /// One `add` call on this connection.
    async fn call(&mut self) -> std::io::Result<Value> {
        let req = Request::post("/mcp")
            .header("host", "b.agents:8080")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(Full::new(Bytes::from(add().to_string())))
            .unwrap();
        match self.sender.send_request(req).await {
            Ok(response) => Ok(read(response).await.json()),
            // The connection task holds the TLS error (e.g. the server's alert).
            Err(e) => Err(match (&mut self.conn).await {
                Ok(Err(conn_error)) => std::io::Error::other(format!("{e}: {conn_error:?}")),
                _ => std::io::Error::other(format!("{e:?}")),
            }),
        }
    }
}

#[tokio::test]
async fn an_inbound_connection_ends_when_the_client_certificate_expires() {
    let (ids, app) = (IdentityService::start().await, Upstream::start().await);
    let b = sidecar_b(&ids, &app).await;
    let bundle = ids.ca.pem.as_str();
    // Valid for 3 more seconds.
    let short = ids.ca.issue(Some(A), 3);
    let mut connection = mtls_connect(b.inbound.unwrap(), short, (A, bundle), bundle)
        .await
        .unwrap();
    let first = connection.call().await.unwrap();
    assert_eq!(first["result"]["method"], "tools/call", "{first}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = connection.call().await;
    assert!(
        after.is_err(),
        "a request after the expiry was served: {after:?}"
    );
    assert_eq!(
        app.seen(),
        1,
        "only the call before the expiry reached the app"
    );
    b.stop().await;
}

#[tokio::test]
async fn ready_only_once_certified_then_calls_a_peer_sidecar_over_mtls() {
    let (ids, app) = (IdentityService::start().await, Upstream::start().await);
    let b = sidecar_b(&ids, &app).await;
    let peer_port = b.inbound.unwrap().port();
    let token = ids.dir.path().join("a-token-not-yet-written");
    let mut args = ids.sidecar_flags("agents", "a");
    let at = args.iter().position(|a| a == "--token-file").unwrap();
    args[at + 1] = path(&token);
    let a = MeshSidecar::start(&manifests(Some(("b", peer_port))), &args).await;
    let not_ready = eventually(
        "A to report why it is not ready",
        Duration::from_secs(10),
        || async {
            let reply = get(a.admin, "/ready").await;
            (reply.status == 503 && reply.text().contains("no workload certificate yet"))
                .then_some(())
        },
    );
    not_ready.await;
    assert_eq!(get(a.admin, "/identity").await.status, 503);
    std::fs::copy(ids.token_file(A), &token).unwrap();
    a.ready().await;
    let identity = get(a.admin, "/identity").await.json();
    assert_eq!(identity["certificate"]["spiffeId"], A, "{identity}");
    assert!(
        !identity["certificate"]["serial"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert!(!identity.to_string().contains("PRIVATE"));
    let metrics = a.metrics().await;
    assert!(
        metrics.contains(r#"agentnet_identity_renewals_total{result="ok"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"agentnet_identity_renewals_total{result="failed"}"#));

    let reply = post(a.outbound, URL, &add(), &[]).await;
    assert_eq!(
        reply.json()["result"]["method"],
        "tools/call",
        "{}",
        reply.text()
    );
    assert_eq!(
        app.seen(),
        1,
        "A reached B's app through B's inbound listener"
    );
    let b_metrics = b.metrics().await;
    assert!(
        b_metrics.contains(r#"agentnet_inbound_handshakes_total{result="ok"}"#),
        "{b_metrics}"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn inbound_policy_allows_a_and_denies_c_by_their_certificates() {
    let (ids, app) = (IdentityService::start().await, Upstream::start().await);
    let b = sidecar_b(&ids, &app).await;
    let to = b.inbound.unwrap();
    let bundle = ids.ca.pem.as_str();
    let as_a = mtls_call(to, ids.ca.issue(Some(A), 600), (A, bundle), bundle)
        .await
        .unwrap();
    assert_eq!(as_a["result"]["method"], "tools/call", "{as_a}");
    let as_c = mtls_call(to, ids.ca.issue(Some(C), 600), (C, bundle), bundle)
        .await
        .unwrap();
    assert_eq!(as_c["error"]["code"], 403, "{as_c}");
    assert_eq!(as_c["error"]["data"]["policy"], "agents/b-callers");
    assert!(
        as_c["error"]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains(C)
    );
    assert_eq!(app.seen(), 1, "only A's call reached the app");
    b.stop().await;
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_rejected_in_the_handshake() {
    let (ids, app) = (IdentityService::start().await, Upstream::start().await);
    let b = sidecar_b(&ids, &app).await;
    let other = Ca::new();
    let outcome = mtls_call(
        b.inbound.unwrap(),
        other.issue(Some(A), 600),
        (A, &other.pem),
        &ids.ca.pem,
    )
    .await;
    let e = outcome.expect_err("a foreign certificate must not get a response");
    // TLS 1.3: the client finishes first, then receives the server's unknown_ca alert.
    assert!(e.to_string().contains("AlertReceived(UnknownCA)"), "{e}");
    assert_eq!(app.seen(), 0);
    let metrics = b.metrics().await;
    assert!(
        metrics.contains(r#"agentnet_inbound_handshakes_total{result="failed"} 1"#),
        "{metrics}"
    );
    b.stop().await;
}

#[tokio::test]
async fn a_peer_presenting_another_identity_is_refused_before_any_request() {
    let (ids, app) = (IdentityService::start().await, Upstream::start().await);
    let b = sidecar_b(&ids, &app).await;
    let expects_c = manifests(Some(("c", b.inbound.unwrap().port())));
    let a = MeshSidecar::start(&expects_c, &ids.sidecar_flags("agents", "a")).await;
    a.ready().await;
    let reply = post(a.outbound, URL, &add(), &[]).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(reply.text().contains("TLS"), "{}", reply.text());
    assert_eq!(app.seen(), 0);
    assert!(
        a.metrics()
            .await
            .contains(r#"agentnet_upstream_errors_total{backend="agents/b",kind="tls"} 1"#)
    );
    a.stop().await;
    b.stop().await;
}

/// The kubelet's credential bundle for `id`: PKCS#8 key, then the chain.
fn credentials(ca: &Ca, id: &str) -> String {
    let (chain, key) = ca.issue(Some(id), 600);
    pem("PRIVATE KEY", key.secret_der()) + &pem("CERTIFICATE", &chain[0])
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn pod_certificate_mode_serves_the_kubelets_certificate_and_follows_its_updates() {
    let ids = IdentityService::start().await;
    let file = ids.dir.path().join("credentials.pem");
    std::fs::write(&file, credentials(&ids.ca, A)).unwrap();
    let args = flags(&[
        ("--pod-certificate-file", &path(&file)),
        ("--trust-bundle-file", &path(&ids.bundle_file())),
        ("--identity-poll-interval", "100ms"),
        ("--namespace", "agents"),
        ("--service-account", "a"),
    ]);
    let a = MeshSidecar::start(&manifests(None), &args).await;
    a.ready().await;
    let first = get(a.admin, "/identity").await.json();
    assert_eq!(first["certificate"]["spiffeId"], A);
    assert_eq!(first["source"]["podCertificateFile"], path(&file));
    std::fs::write(&file, credentials(&ids.ca, A)).unwrap();
    let serial = first["certificate"]["serial"].clone();
    let admin = a.admin;
    eventually(
        "the rewritten file to be loaded",
        Duration::from_secs(10),
        || async {
            let now = get(admin, "/identity").await.json();
            (now["certificate"]["serial"] != serial).then_some(())
        },
    )
    .await;
    a.stop().await;
}
