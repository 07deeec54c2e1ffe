//! An in-process stand-in for agentnet-webhook's identity service, for fast tests of
//! the sidecar's certificate client and mTLS (the e2e tests use the real one): an rcgen
//! CA, HTTPS on 127.0.0.1 with a certificate from that CA, and `POST /v1/certify`
//! mapping bearer tokens to SPIFFE IDs (as a TokenReview would) and signing CSRs that
//! ask for nothing else. Also: client certificates from this CA or another one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use x509_parser::time::ASN1Time;

/// A CA that issues SVID-shaped certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

/// The stand-in identity service; its files (trust bundle, tokens) live in `dir`.
pub struct IdentityService {
    pub url: String,
    pub ca: Arc<Ca>,
    pub dir: TempDir,
    tokens: Arc<Mutex<HashMap<String, String>>>,
}

impl Ca {
    pub fn new() -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        let name = format!("test identity CA {}", rand::random::<u64>());
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// An SVID for `uri` (or, with `None`, for `127.0.0.1` as a server) and its key.
    pub fn issue(
        &self,
        uri: Option<&str>,
        lifetime_secs: i64,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let cert = self
            .params(uri, lifetime_secs)
            .signed_by(&key, &self.issuer)
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key)
    }

    fn params(&self, uri: Option<&str>, lifetime_secs: i64) -> CertificateParams {
        let now = ASN1Time::now().timestamp();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = vec![match uri {
            Some(uri) => SanType::URI(uri.try_into().unwrap()),
            None => SanType::IpAddress([127, 0, 0, 1].into()),
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let at = |t| ASN1Time::from_timestamp(t).unwrap().to_datetime();
        params.not_before = at(now - 60);
        params.not_after = at(now + lifetime_secs);
        params
    }

    /// Signs a CSR for `id`; `Err` (403) if it asks for anything else.
    fn sign(&self, csr_pem: &str, id: &str, lifetime_secs: i64) -> Result<String, String> {
        let mut csr =
            CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| e.to_string())?;
        let sans = &csr.params.subject_alt_names;
        let only_id = matches!(sans.as_slice(), [SanType::URI(u)] if u.as_str() == id);
        if !(sans.is_empty() || only_id) {
            return Err(format!(
                "the csr requests {sans:?}, but the token proves {id}"
            ));
        }
        csr.params = self.params(Some(id), lifetime_secs);
        Ok(csr.signed_by(&self.issuer).unwrap().pem())
    }
}

impl IdentityService {
    pub async fn start() -> IdentityService {
        let ca = Arc::new(Ca::new());
        let (chain, key) = ca.issue(None, 3600);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let tokens = Arc::new(Mutex::new(HashMap::new()));
        tokio::spawn(serve(listener, acceptor, ca.clone(), tokens.clone()));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca-bundle.pem"), &ca.pem).unwrap();
        IdentityService {
            url,
            ca,
            dir,
            tokens,
        }
    }

    pub fn bundle_file(&self) -> PathBuf {
        self.dir.path().join("ca-bundle.pem")
    }

    /// Writes a token file for `id` (valid from now on) and returns its path.
    pub fn token_file(&self, id: &str) -> PathBuf {
        let token = format!("token-{}", rand::random::<u64>());
        self.tokens
            .lock()
            .unwrap()
            .insert(token.clone(), id.to_owned());
        let path = self
            .dir
            .path()
            .join(format!("token-{}", rand::random::<u32>()));
        std::fs::write(&path, token).unwrap();
        path
    }

    /// The flags of a sidecar certified by this service as `ns/sa`.
    pub fn sidecar_flags(&self, ns: &str, sa: &str) -> Vec<String> {
        let token = self.token_file(&format!("spiffe://cluster.local/ns/{ns}/sa/{sa}"));
        flags(&[
            ("--identity-url", self.url.as_str()),
            ("--token-file", &path(&token)),
            ("--trust-bundle-file", &path(&self.bundle_file())),
            ("--identity-poll-interval", "100ms"),
            ("--namespace", ns),
            ("--service-account", sa),
        ])
    }
}

pub fn path(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

pub fn flags(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(k, v)| [(*k).to_owned(), (*v).to_owned()])
        .collect()
}

async fn serve(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    ca: Arc<Ca>,
    tokens: Arc<Mutex<HashMap<String, String>>>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        let (acceptor, ca, tokens) = (acceptor.clone(), ca.clone(), tokens.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service = service_fn(move |req| certify(req, ca.clone(), tokens.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn certify(
    req: Request<Incoming>,
    ca: Arc<Ca>,
    tokens: Arc<Mutex<HashMap<String, String>>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let body: Value =
        serde_json::from_slice(&req.into_body().collect().await?.to_bytes()).unwrap_or_default();
    let id = token.and_then(|t| tokens.lock().unwrap().get(&t).cloned());
    let Some(id) = id else {
        return Ok(reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "unauthenticated", "message": "bad token"}),
        ));
    };
    let lifetime = body["lifetimeSeconds"].as_i64().unwrap_or(3600);
    match ca.sign(body["csr"].as_str().unwrap_or_default(), &id, lifetime) {
        Ok(chain) => Ok(reply(
            StatusCode::OK,
            json!({"spiffeId": id, "certificateChain": chain, "trustBundle": ca.pem}),
        )),
        Err(message) => Ok(reply(
            StatusCode::FORBIDDEN,
            json!({"error": "forbidden", "message": message}),
        )),
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}
