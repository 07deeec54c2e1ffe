use std::sync::Arc;

use axum::routing::get;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::*;
use crate::serving_cert::issue::{self, Issued};

fn pki() -> (Issued, Issued) {
    let now = OffsetDateTime::now_utc();
    let ca = issue::new_ca(now).unwrap();
    let serving = issue::issue_serving(&ca, &["127.0.0.1".into()], now).unwrap();
    (ca, serving)
}

/// GET /hello over TLS trusting only `ca`; the response body, or the TLS error.
async fn get_hello(addr: SocketAddr, ca: &Issued) -> Result<String, String> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response)
}

#[tokio::test]
async fn serves_over_tls_and_swaps_the_certificate_without_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (ca, serving) = pki();
    let resolver = Arc::new(CertResolver::new(&serving.cert_pem, &serving.key_pem).unwrap());
    let tls = Arc::new(resolver.server_config().unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    let app = Router::new().route("/hello", get(|| async { "hello" }));
    let server = tokio::spawn(serve_tls(listener, app, tls, stopped));

    let response = get_hello(addr, &ca).await.unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200") && response.ends_with("hello"),
        "{response}"
    );

    let (new_ca, new_serving) = pki();
    assert!(
        resolver
            .update(&new_serving.cert_pem, &new_serving.key_pem)
            .unwrap()
    );
    assert!(
        !resolver
            .update(&new_serving.cert_pem, &new_serving.key_pem)
            .unwrap(),
        "same cert: no change"
    );
    assert!(
        get_hello(addr, &new_ca).await.is_ok(),
        "the next handshake uses the new certificate"
    );
    assert!(
        get_hello(addr, &ca).await.is_err(),
        "the old CA no longer verifies it"
    );

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[test]
fn a_mismatched_key_is_refused_and_the_old_certificate_stays() {
    let (_, serving) = pki();
    let (_, other) = pki();
    let resolver = CertResolver::new(&serving.cert_pem, &serving.key_pem).unwrap();
    assert!(matches!(
        resolver.update(&serving.cert_pem, &other.key_pem),
        Err(TlsError::Rustls(_))
    ));
    assert!(matches!(
        resolver.update("", &serving.key_pem),
        Err(TlsError::NoCertificate)
    ));
    assert!(CertResolver::new(&serving.cert_pem, "garbage").is_err());
    let current = resolver.current.load();
    let expected = CertificateDer::from_pem_slice(serving.cert_pem.as_bytes()).unwrap();
    assert_eq!(current.cert[0], expected);
}
