//! The identity service of the shared local webhook, as a sidecar sees it: tokens from
//! a real TokenRequest (and expired copies re-signed with the cluster's ServiceAccount
//! key), CSRs from rcgen, HTTPS to `/v1/certify` trusting only the distributed bundle,
//! chain verification with rustls-webpki, and the `agentnet-webhook ca` commands.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use agentnet_api::contract;
use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::api::PostParams;
use kube::{Api, Client};
use rcgen::{CertificateParams, DistinguishedName, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::webhook::{LocalWebhook, webhook_binary};
use crate::{control_plane, eventually};

/// The answer of the identity service.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// `https://127.0.0.1:<port>`: the webhook's identity listener.
pub fn url(webhook: &LocalWebhook) -> String {
    format!("https://127.0.0.1:{}", webhook.identity_port)
}

/// The Secret holding the identity CAs (the chart's default name for the release).
pub fn ca_secret(webhook: &LocalWebhook) -> String {
    format!("{}-identity-ca", webhook.release)
}

/// A ServiceAccount token for `audience` from a real TokenRequest (10 minutes).
pub async fn token(client: &Client, ns: &str, sa: &str, audience: &str) -> Result<String> {
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: Some(vec![audience.to_owned()]),
            expiration_seconds: Some(600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let issued = api
        .create_token_request(sa, &PostParams::default(), &request)
        .await
        .with_context(|| format!("TokenRequest for {ns}/{sa}"))?;
    let status = issued.status.context("TokenRequest without status")?;
    status.token.context("TokenRequest without a token")
}

/// `token` with its times moved so it expires at `exp` (Unix seconds), re-signed with
/// the cluster's ServiceAccount signing key: only the expiry differs from a real token.
pub fn with_expiry(token: &str, exp: i64) -> Result<String> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
        bail!("not a JWT");
    };
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?;
    claims["exp"] = exp.into();
    claims["iat"] = (exp - 3600).into();
    claims["nbf"] = (exp - 3600).into();
    let input = format!(
        "{header}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?)
    );
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let key = ring::signature::EcdsaKeyPair::from_pkcs8(alg, &sa_key_pkcs8()?, &rng)
        .map_err(|e| anyhow::anyhow!("the ServiceAccount key: {e}"))?;
    let signature = key
        .sign(&rng, input.as_bytes())
        .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// `<state_dir>/pki/sa.key` (SEC1 PEM, written by hack/cluster.sh) as PKCS#8 DER.
fn sa_key_pkcs8() -> Result<Vec<u8>> {
    let state = control_plane()
        .state_dir
        .as_ref()
        .context("forging tokens needs the control plane the harness starts (unset KUBECONFIG)")?;
    let key = state.join("pki/sa.key");
    let out = Command::new("openssl")
        .args(["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"])
        .arg(&key)
        .output()
        .context("running openssl pkcs8")?;
    if !out.status.success() {
        bail!(
            "openssl pkcs8 {}: {}",
            key.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

/// A CSR as the sidecar makes it (fresh P-256 key, empty subject) requesting `uris`.
pub fn csr(uris: &[&str]) -> Result<String> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    for uri in uris {
        params
            .subject_alt_names
            .push(SanType::URI((*uri).try_into()?));
    }
    let key = KeyPair::generate()?;
    Ok(params.serialize_request(&key)?.pem()?)
}

/// The trust bundle distributed to namespace `ns`, once its ConfigMap exists.
pub async fn trust_bundle(client: &Client, ns: &str) -> Result<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    eventually(
        &format!("the trust bundle in namespace {ns}"),
        Duration::from_secs(60),
        || {
            let api = api.clone();
            async move {
                let cm = api.get_opt(contract::TRUST_BUNDLE_CONFIGMAP).await?;
                let data = cm.and_then(|cm| cm.data);
                Ok(data.and_then(|mut d| d.remove(contract::TRUST_BUNDLE_KEY)))
            }
        },
    )
    .await
}

/// TLS to the webhook's identity listener, trusting only `bundle`.
async fn identity_tls(
    port: u16,
    bundle: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(bundle)? {
        roots.add(cert)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("127.0.0.1")?;
    Ok(TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?)
}

/// An open `GET /v1/policy/view` stream, as a sidecar holds it.
pub struct PolicyStream {
    pub status: u16,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio_rustls::client::TlsStream<TcpStream>>>,
}

impl PolicyStream {
    /// Opens the stream to the identity listener on 127.0.0.1:`port` with `token`
    /// (bearer) and `query` (e.g. `?identity=…`). HTTP/1.0, so the body is the raw
    /// lines until the connection closes.
    pub async fn open(port: u16, bundle: &str, token: Option<&str>, query: &str) -> Result<Self> {
        use tokio::io::AsyncBufReadExt;
        let mut tls = identity_tls(port, bundle).await?;
        let auth = token
            .map(|t| format!("authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "GET {}{query} HTTP/1.0\r\nhost: 127.0.0.1\r\n{auth}\r\n",
            contract::policy::VIEW_PATH
        );
        tls.write_all(request.as_bytes()).await?;
        let mut lines = tokio::io::BufReader::new(tls).lines();
        let head = lines.next_line().await?.context("no status line")?;
        let status = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("no HTTP status in {head:?}"))?;
        while let Some(line) = lines.next_line().await? {
            if line.is_empty() {
                break;
            }
        }
        Ok(Self { status, lines })
    }

    /// The next message (a view or a heartbeat) within `timeout`, or `None` if none came.
    pub async fn next(&mut self, timeout: Duration) -> Result<Option<Value>> {
        match tokio::time::timeout(timeout, self.lines.next_line()).await {
            Err(_) => Ok(None),
            Ok(line) => {
                let line = line?.context("the policy stream ended")?;
                Ok(Some(
                    serde_json::from_str(&line).with_context(|| format!("not JSON: {line}"))?,
                ))
            }
        }
    }

    /// The next view within `timeout`, skipping heartbeats; `None` if no view came.
    pub async fn next_view(&mut self, timeout: Duration) -> Result<Option<Value>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await? {
                None => return Ok(None),
                Some(m) if m["type"] == "view" => return Ok(Some(m)),
                Some(_) => {}
            }
        }
    }

    /// The rest of the body of a refused request.
    pub async fn body(mut self) -> Result<String> {
        let mut out = String::new();
        while let Some(line) = self.lines.next_line().await? {
            out.push_str(&line);
        }
        Ok(out)
    }
}

/// `POST /v1/certify` over TLS trusting only `bundle`, with `token` as bearer.
pub async fn certify(
    webhook: &LocalWebhook,
    bundle: &str,
    token: Option<&str>,
    body: &Value,
) -> Result<Reply> {
    let mut tls = identity_tls(webhook.identity_port, bundle).await?;
    let body = body.to_string();
    let auth = token
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{auth}\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        contract::identity::CERTIFY_PATH,
        body.len()
    );
    tls.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    if let Err(e) = tls.read_to_end(&mut response).await {
        // A peer that closes without close_notify still sent the whole response.
        if response.is_empty() {
            return Err(e.into());
        }
    }
    parse_reply(&String::from_utf8_lossy(&response))
}

fn parse_reply(text: &str) -> Result<Reply> {
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    let (_, body) = text.split_once("\r\n\r\n").context("no HTTP body")?;
    let body = serde_json::from_str(body).with_context(|| format!("not JSON: {body}"))?;
    Ok(Reply { status, body })
}

/// Every certificate in a PEM text.
pub fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        bail!("no certificate in {pem:?}");
    }
    Ok(certs)
}

/// Verifies `chain` (leaf first) against `bundle` now, for client and server use.
pub fn verify(chain: &str, bundle: &str) -> Result<()> {
    let chain = certificates(chain)?;
    let roots = certificates(bundle)?;
    let anchors = roots
        .iter()
        .map(|r| webpki::anchor_from_trusted_cert(r).map_err(|e| anyhow::anyhow!("root: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let leaf = webpki::EndEntityCert::try_from(&chain[0]).map_err(|e| anyhow::anyhow!("{e}"))?;
    for usage in [
        webpki::KeyUsage::client_auth(),
        webpki::KeyUsage::server_auth(),
    ] {
        leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &chain[1..],
            UnixTime::now(),
            usage,
            None,
            None,
        )
        .map_err(|e| anyhow::anyhow!("the chain does not verify against the bundle: {e}"))?;
    }
    Ok(())
}

/// Runs `agentnet-webhook ca <args>` against the webhook's CA Secret; its stdout.
pub fn run_ca(webhook: &LocalWebhook, args: &[&str]) -> Result<String> {
    let kubeconfig: &Path = &control_plane().kubeconfig;
    let mut cmd = Command::new(webhook_binary()?);
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("AGENTNET_")) {
        cmd.env_remove(name);
    }
    let out = cmd
        .arg("ca")
        .args([
            "--namespace",
            &webhook.namespace,
            "--secret",
            &ca_secret(webhook),
        ])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .context("running agentnet-webhook ca")?;
    if !out.status.success() {
        bail!(
            "agentnet-webhook ca {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}
