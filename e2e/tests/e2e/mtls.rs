//! Workload certificates and mTLS end to end: agentnet-sidecar processes certified by
//! the shared local webhook's real identity service (real TokenRequest tokens in
//! files, checked by real TokenReviews), their policy and peer Services from the real
//! API server, the trust bundle copied from its ConfigMap to a file the way the kubelet
//! does, and real TLS handshakes between sidecars and with hand-made clients.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentnet_api::contract;
use agentnet_e2e::identity::{certificates, certify, token, trust_bundle, url};
use agentnet_e2e::sidecar::{Process, host_ip, http, start_mcp_server, start_sidecar, tool_call};
use agentnet_e2e::webhook::{LocalWebhook, shared};
use agentnet_e2e::{TestNs, control_plane, eventually};
use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use rcgen::{CertificateParams, DistinguishedName, KeyPair, SanType};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

const OPT_IN: (&str, &str) = ("agentnet.dev/inject", "enabled");
const WAIT: Duration = Duration::from_secs(60);

/// An opted-in namespace with ServiceAccounts a, b and c, and the files sidecars read.
struct Mesh {
    ns: TestNs,
    webhook: &'static LocalWebhook,
    dir: TempDir,
    ip: String,
    bundle_sync: JoinHandle<()>,
}

/// A running sidecar process and where to reach it.
struct Sidecar {
    _process: Process,
    outbound: SocketAddr,
    admin: SocketAddr,
    log: PathBuf,
}

impl Mesh {
    async fn new(prefix: &str) -> Mesh {
        let webhook = shared().await.unwrap();
        let ns = TestNs::with_labels(prefix, &[OPT_IN]).await.unwrap();
        for sa in ["a", "b", "c"] {
            ns.create_service_account(sa).await.unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let bundle = trust_bundle(&ns.client, &ns.name).await.unwrap();
        write_atomically(&dir.path().join("ca-bundle.pem"), &bundle).unwrap();
        let api: Api<ConfigMap> = Api::namespaced(ns.client.clone(), &ns.name);
        let bundle_sync = tokio::spawn(sync_bundle(api, dir.path().join("ca-bundle.pem")));
        Mesh {
            ns,
            webhook,
            dir,
            ip: host_ip().unwrap(),
            bundle_sync,
        }
    }

    fn id(&self, sa: &str) -> String {
        format!("spiffe://cluster.local/ns/{}/sa/{sa}", self.ns.name)
    }

    fn bundle(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ca-bundle.pem")).unwrap()
    }

    /// A real projected-style token for `sa` (audience agentnet) written to `path`.
    async fn write_token(&self, sa: &str, path: &Path) {
        let token = token(&self.ns.client, &self.ns.name, sa, contract::TOKEN_AUDIENCE);
        write_atomically(path, &token.await.unwrap()).unwrap();
    }

    /// Starts a sidecar for ServiceAccount `sa` reading its token from `token_file`.
    fn sidecar(&self, sa: &str, token_file: &Path, inbound: SocketAddr, extra: &[&str]) -> Sidecar {
        let kubeconfig = control_plane().kubeconfig.to_string_lossy().into_owned();
        let (identity_url, inbound) = (url(self.webhook), inbound.to_string());
        let token_file = token_file.to_string_lossy().into_owned();
        let bundle_file = self.dir.path().join("ca-bundle.pem");
        let bundle_file = bundle_file.to_string_lossy().into_owned();
        let mut args = vec![
            "--kubeconfig",
            &kubeconfig,
            "--identity-url",
            &identity_url,
            "--token-file",
            &token_file,
            "--trust-bundle-file",
            &bundle_file,
            "--namespace",
            &self.ns.name,
            "--service-account",
            sa,
            "--cert-lifetime",
            "2m",
            "--identity-poll-interval",
            "1s",
            "--inbound-addr",
            &inbound,
            "--audit",
            "false",
        ];
        args.extend_from_slice(extra);
        let log = self.dir.path().join(format!("sidecar-{sa}.log"));
        let (process, outbound, admin) = start_sidecar(&args, &log).unwrap();
        Sidecar {
            _process: process,
            outbound,
            admin,
            log,
        }
    }

    /// XBackend b behind Service b, whose pods are peers with identity b on `port`,
    /// and a policy letting ServiceAccount a (only) call its tool `add`.
    fn apply_backend_b(&self, port: u16) {
        let (ns, ip) = (&self.ns.name, &self.ip);
        let yaml = format!(
            r#"
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {{name: b, namespace: {ns}}}
spec: {{mcp: {{serviceName: b, port: 8080}}}}
---
apiVersion: v1
kind: Service
metadata:
  name: b
  namespace: {ns}
  annotations: {{agentnet.dev/peer-identity: b, agentnet.dev/peer-port: "{port}"}}
spec: {{ports: [{{name: http, port: 8080}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: b-1, namespace: {ns}, labels: {{kubernetes.io/service-name: b}}}}
addressType: IPv4
endpoints: [{{addresses: ['{ip}'], conditions: {{ready: true}}}}]
ports: [{{name: http, port: 8080}}]
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {{name: b-callers, namespace: {ns}}}
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
        );
        let out = self.ns.apply_yaml(&yaml).unwrap();
        assert!(out.status.success(), "{}", agentnet_e2e::output_text(&out));
    }

    /// Sidecar B certified as b, serving XBackend b inbound in front of the Python MCP
    /// server; with the backend applied.
    async fn start_b(&self) -> (Sidecar, Process, SocketAddr) {
        let (app, app_port) = start_mcp_server(&["--host", &self.ip, "--json-response"]).unwrap();
        let inbound = free_addr(&self.ip);
        self.apply_backend_b(inbound.port());
        let token = self.dir.path().join("token-b");
        self.write_token("b", &token).await;
        let (backend, forward) = (
            format!("{}/b", self.ns.name),
            format!("{}:{app_port}", self.ip),
        );
        let extra = [
            "--inbound-backend",
            backend.as_str(),
            "--inbound-forward",
            forward.as_str(),
        ];
        let b = self.sidecar("b", &token, inbound, &extra);
        b.ready().await;
        (b, app, inbound)
    }

    /// The certificate the identity service issues to `sa` for a key of our own (PEM
    /// chain and key), as any mesh client outside a sidecar would get one.
    async fn client_certificate(&self, sa: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let csr = csr_for(&key, None);
        let token = token(&self.ns.client, &self.ns.name, sa, contract::TOKEN_AUDIENCE);
        let token = token.await.unwrap();
        let (bundle, body) = (self.bundle(), json!({"csr": csr}));
        let reply = certify(self.webhook, &bundle, Some(&token), &body);
        let reply = reply.await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        let chain = reply.body["certificateChain"].as_str().unwrap().to_owned();
        (chain, key.serialize_pem())
    }

    /// `tools/call add(2, 3)` through `sidecar` to XBackend b: the result's text, or why not.
    async fn add_through(&self, sidecar: &Sidecar) -> Result<String> {
        let authority = format!("b.{}:8080", self.ns.name);
        let body = tool_call("add", json!({"a": 2, "b": 3}));
        let target = format!("http://{authority}/mcp");
        let reply = http(sidecar.outbound, "POST", &target, &authority, &body).await?;
        let message: Value = serde_json::from_str(&reply.body)
            .with_context(|| format!("{}: {}", reply.status, reply.body))?;
        match message["result"]["content"][0]["text"].as_str() {
            Some(text) if reply.status == 200 => Ok(text.to_owned()),
            _ => bail!("{}: {}", reply.status, reply.body),
        }
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        self.bundle_sync.abort();
    }
}

impl Sidecar {
    async fn ready(&self) {
        let admin = self.admin;
        let ready = eventually("the sidecar to be ready", WAIT, || async move {
            let reply = http(admin, "GET", "/ready", "admin", "").await?;
            Ok((reply.status == 200).then_some(()))
        });
        if let Err(e) = ready.await {
            panic!("{e:#}\n{}", self.log_text());
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let reply = http(self.admin, "GET", path, "admin", "").await.unwrap();
        (reply.status, reply.body)
    }

    async fn identity(&self) -> Value {
        serde_json::from_str(&self.get("/identity").await.1).unwrap()
    }

    /// The value of one metric line (name with labels), 0 when absent.
    async fn metric(&self, series: &str) -> f64 {
        let text = self.get("/metrics").await.1;
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok());
        value.unwrap_or(0.0)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// What the kubelet does for a ConfigMap volume: the file follows the ConfigMap.
async fn sync_bundle(api: Api<ConfigMap>, path: PathBuf) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok(Some(cm)) = api.get_opt(contract::TRUST_BUNDLE_CONFIGMAP).await else {
            continue;
        };
        let bundle = cm
            .data
            .and_then(|mut d| d.remove(contract::TRUST_BUNDLE_KEY));
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(bundle) = bundle.filter(|b| *b != current) {
            let _ = write_atomically(&path, &bundle);
        }
    }
}

/// Write then rename, as the kubelet's atomic writer does.
fn write_atomically(path: &Path, content: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn free_addr(ip: &str) -> SocketAddr {
    TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap()
}

/// A CSR as the sidecar makes it: empty subject, the URI SAN if given.
fn csr_for(key: &KeyPair, uri: Option<&str>) -> String {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    if let Some(uri) = uri {
        params.subject_alt_names = vec![SanType::URI(uri.try_into().unwrap())];
    }
    params.serialize_request(key).unwrap().pem().unwrap()
}

/// Verifies a sidecar's server SVID against the bundle and its one URI SAN against
/// the identity expected; keeps the leaf for the test to inspect.
#[derive(Debug)]
struct SvidServer {
    roots: Vec<CertificateDer<'static>>,
    expected: String,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

impl ServerCertVerifier for SvidServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let other = |m: String| rustls::Error::General(m);
        let anchors: Vec<_> = self
            .roots
            .iter()
            .filter_map(|r| webpki::anchor_from_trusted_cert(r).ok())
            .collect();
        let leaf = webpki::EndEntityCert::try_from(end_entity).map_err(|e| other(e.to_string()))?;
        let usage = webpki::KeyUsage::server_auth();
        leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            intermediates,
            now,
            usage,
            None,
            None,
        )
        .map_err(|e| other(format!("chain: {e}")))?;
        let uris = uri_sans(end_entity);
        if uris != [self.expected.clone()] {
            return Err(other(format!(
                "URI SANs {uris:?}, expected {}",
                self.expected
            )));
        }
        *self.seen.lock().unwrap() = Some(end_entity.clone().into_owned());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &algorithms())
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        algorithms().supported_schemes()
    }
}

fn algorithms() -> rustls::crypto::WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

fn uri_sans(der: &CertificateDer<'_>) -> Vec<String> {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    let san = cert.subject_alternative_name().unwrap();
    san.iter()
        .flat_map(|s| s.value.general_names.iter())
        .filter_map(|n| match n {
            GeneralName::URI(u) => Some((*u).to_owned()),
            _ => None,
        })
        .collect()
}

/// An mTLS client with `(chain, key)` PEM: one HTTP/1.0 POST of `body` to `to`, whose
/// server must be `expected`. The status and body, and the server's leaf.
async fn mtls_post(
    to: SocketAddr,
    (chain, key): (&str, &str),
    (bundle, expected): (&str, &str),
    body: &str,
) -> Result<(u16, String, CertificateDer<'static>)> {
    let verifier = Arc::new(SvidServer {
        roots: certificates(bundle)?,
        expected: expected.to_owned(),
        seen: Mutex::new(None),
    });
    let config = client_config(verifier.clone(), chain, key)?;
    let tcp = tokio::net::TcpStream::connect(to).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut tls = connector
        .connect(ServerName::try_from("peer.invalid")?, tcp)
        .await?;
    let leaf = verifier
        .seen
        .lock()
        .unwrap()
        .clone()
        .context("no server certificate")?;
    let request = format!(
        "POST /mcp HTTP/1.0\r\nhost: b:8080\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    if let Err(e) = tls.read_to_end(&mut raw).await
        && raw.is_empty()
    {
        return Err(e.into());
    }
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").context("no end of headers")?;
    let status = head.split(' ').nth(1).context("no status")?.parse()?;
    Ok((status, body.to_owned(), leaf))
}

fn client_config(
    verifier: Arc<SvidServer>,
    chain: &str,
    key: &str,
) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(certificates(chain)?, key)?)
}

/// The JSON-RPC add(2, 3) call a direct mesh client sends.
fn add_call() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}).to_string()
}

#[tokio::test]
async fn sidecars_talk_mtls_with_verified_identities_and_inbound_policy_decides_by_them() {
    let mesh = Mesh::new("mtls").await;
    let (b, _app, b_inbound) = mesh.start_b().await;
    let token_a = mesh.dir.path().join("token-a");
    mesh.write_token("a", &token_a).await;
    let a = mesh.sidecar("a", &token_a, free_addr("127.0.0.1"), &[]);
    a.ready().await;

    // Sidecar to sidecar, each checking the other's SPIFFE ID; B's policy admits A.
    let sum = mesh.add_through(&a).await;
    assert_eq!(
        sum.unwrap_or_else(|e| panic!("{e:#}\n{}", b.log_text())),
        "5"
    );
    assert!(
        b.metric(r#"agentnet_inbound_handshakes_total{result="ok"}"#)
            .await
            >= 1.0
    );

    // C, certified by the same identity service, is authenticated but not allowed.
    let (chain_c, key_c) = mesh.client_certificate("c").await;
    let bundle = mesh.bundle();
    let to_b = (bundle.as_str(), mesh.id("b"));
    let (status, body, leaf) = mtls_post(
        b_inbound,
        (&chain_c, &key_c),
        (to_b.0, &to_b.1),
        &add_call(),
    )
    .await
    .unwrap();
    let denial: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, &denial["error"]["code"]),
        (200, &json!(403)),
        "{body}"
    );
    assert_eq!(
        denial["error"]["data"]["policy"],
        format!("{}/b-callers", mesh.ns.name)
    );
    assert!(
        denial["error"]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains(&mesh.id("c"))
    );
    assert_eq!(uri_sans(&leaf), [mesh.id("b")], "B presents its own SVID");

    // A client whose certificate comes from another CA never gets past the handshake.
    let foreign = foreign_certificate(&mesh.id("a"));
    let refused = mtls_post(
        b_inbound,
        (&foreign.0, &foreign.1),
        (to_b.0, &to_b.1),
        &add_call(),
    )
    .await;
    let e = refused.expect_err("a foreign client certificate must be rejected");
    assert!(format!("{e:#}").contains("UnknownCA"), "{e:#}");
    assert!(
        b.metric(r#"agentnet_inbound_handshakes_total{result="failed"}"#)
            .await
            >= 1.0
    );
}

/// A self-signed CA of our own and a leaf for `uri` from it: chain and key PEM.
fn foreign_certificate(uri: &str) -> (String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "not the agentnet CA");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = DistinguishedName::new();
    leaf.subject_alt_names = vec![SanType::URI(uri.try_into().unwrap())];
    leaf.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    (
        leaf.signed_by(&key, &issuer).unwrap().pem(),
        key.serialize_pem(),
    )
}

#[tokio::test]
async fn a_sidecar_is_certified_only_as_its_service_account_and_rotates_under_traffic() {
    let mesh = Mesh::new("rotate").await;
    let (b, _app, _) = mesh.start_b().await;
    let token_a = mesh.dir.path().join("token-a");
    let a_inbound = free_addr("127.0.0.1");
    let a = mesh.sidecar("a", &token_a, a_inbound, &[]);

    // No token yet, so no certificate: not ready, and it says why.
    let admin = a.admin;
    let waiting = eventually("A to wait for its certificate", WAIT, || async move {
        let reply = http(admin, "GET", "/ready", "admin", "").await?;
        Ok(
            (reply.status == 503 && reply.body.contains("no workload certificate yet"))
                .then_some(()),
        )
    });
    waiting
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", a.log_text()));
    assert_eq!(a.get("/identity").await.0, 503);
    mesh.write_token("a", &token_a).await;
    a.ready().await;

    // Its certificate: A's SPIFFE ID and nothing else, chained to the bundle.
    let identity = a.identity().await;
    assert_eq!(
        identity["certificate"]["spiffeId"],
        mesh.id("a"),
        "{identity}"
    );
    assert_presents_only_its_identity(&mesh, a_inbound, "a").await;

    // Traffic A → B over mTLS while both renew: at least two renewals each, no failure.
    let rotation = rotate_under_traffic(&mesh, &a, &b).await;
    eprintln!(
        "rotation: {} requests, {} failed, A's certificates {:?}",
        rotation.requests,
        rotation.failures.len(),
        rotation.serials
    );
    assert!(
        rotation.failures.is_empty(),
        "{} of {} requests failed: {:?}\n{}",
        rotation.failures.len(),
        rotation.requests,
        rotation.failures,
        a.log_text()
    );
    assert!(
        rotation.serials.len() >= 3,
        "A's serials {:?}",
        rotation.serials
    );
    assert!(
        b.metric(r#"agentnet_inbound_handshakes_total{result="ok"}"#)
            .await
            >= 3.0,
        "a new handshake after each of A's renewals"
    );
}

/// The SVID a sidecar presents on its inbound port (seen by a client with C's real
/// certificate): chained to the bundle, empty subject, the one URI SAN `sa`'s, and the
/// 2-minute lifetime asked for.
async fn assert_presents_only_its_identity(mesh: &Mesh, inbound: SocketAddr, sa: &str) {
    let (chain_c, key_c) = mesh.client_certificate("c").await;
    let (bundle, expected) = (mesh.bundle(), mesh.id(sa));
    let to = (bundle.as_str(), expected.as_str());
    let reply = mtls_post(inbound, (&chain_c, &key_c), to, &add_call()).await;
    let (_, _, leaf) = reply.unwrap();
    let (_, cert) = X509Certificate::from_der(&leaf).unwrap();
    assert_eq!(cert.subject().iter().count(), 0, "empty subject");
    assert_eq!(uri_sans(&leaf), [expected]);
    let left = cert.validity().not_after.timestamp() - Timestamp::now().as_second();
    assert!(left <= 120, "the 2m lifetime was asked for: {left}s left");
}

struct Rotation {
    requests: usize,
    failures: Vec<String>,
    /// A's certificates in the order seen.
    serials: Vec<String>,
}

/// Calls A → B once a second until both have renewed twice (bounded by 5 minutes);
/// every change of A's certificate must come before the previous one expired.
async fn rotate_under_traffic(mesh: &Mesh, a: &Sidecar, b: &Sidecar) -> Rotation {
    let ok = r#"agentnet_identity_renewals_total{result="ok"}"#;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut rotation = Rotation {
        requests: 0,
        failures: Vec::new(),
        serials: Vec::new(),
    };
    let mut not_after = None;
    loop {
        // The store is published before the metric counts it: read the metric first.
        let done = a.metric(ok).await >= 3.0 && b.metric(ok).await >= 3.0;
        not_after = rotation.observe(a.identity().await, not_after);
        if done {
            // One call after the last renewal, which opens a connection with it.
            rotation.call(mesh, a).await;
            return rotation;
        }
        let late = Instant::now() >= deadline;
        assert!(
            !late,
            "not two renewals each in 5 minutes:\n{}",
            a.log_text()
        );
        rotation.call(mesh, a).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

impl Rotation {
    async fn call(&mut self, mesh: &Mesh, a: &Sidecar) {
        self.requests += 1;
        if let Err(e) = mesh.add_through(a).await {
            self.failures.push(format!("{e:#}"));
        }
    }

    /// Records A's certificate if new, checking the previous one (which expires at
    /// `not_after`) had not expired yet; returns the notAfter in force.
    fn observe(&mut self, identity: Value, not_after: Option<Timestamp>) -> Option<Timestamp> {
        let certificate = &identity["certificate"];
        let serial = certificate["serial"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if self.serials.last() == Some(&serial) {
            return not_after;
        }
        let now = Timestamp::now();
        let expired = not_after.is_some_and(|t| now >= t);
        assert!(
            !expired,
            "renewed at {now}, after the old notAfter {not_after:?}"
        );
        self.serials.push(serial);
        certificate["notAfter"]
            .as_str()
            .and_then(|t| t.parse().ok())
    }
}
