use std::sync::Arc;

use super::*;

/// The first flight of a real rustls client for `name`.
fn client_hello(name: &str) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let server = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), server).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

#[test]
fn tells_http_versions_tls_and_anything_else_apart() {
    assert_eq!(
        classify(b"POST /mcp HTTP/1.1\r\n", false),
        Some(Protocol::Http1)
    );
    assert_eq!(
        classify(b"GET / HTTP/1.0\r\n\r\n", false),
        Some(Protocol::Http1)
    );
    assert_eq!(classify(H2_PREFACE, false), Some(Protocol::Http2));
    let hello = client_hello("tools.example.com");
    assert_eq!(
        classify(&hello, false),
        Some(Protocol::Tls {
            sni: Some("tools.example.com".into())
        })
    );
    assert_eq!(
        classify(b"SSH-2.0-OpenSSH_9.2\r\n", false),
        Some(Protocol::Opaque)
    );
    assert_eq!(classify(b"\x00\x01\x02", false), Some(Protocol::Opaque));
    assert_eq!(
        classify(b"get / HTTP/1.1\r\n", false),
        Some(Protocol::Opaque),
        "methods are case-sensitive"
    );
}

#[test]
fn waits_for_more_bytes_only_while_they_could_change_the_answer() {
    assert_eq!(classify(b"PO", false), None);
    assert_eq!(classify(b"PO", true), Some(Protocol::Opaque));
    assert_eq!(classify(b"PRI * HTTP/2", false), None);
    let hello = client_hello("tools.example.com");
    assert_eq!(classify(&hello[..20], false), None);
    assert_eq!(
        classify(&hello[..20], true),
        Some(Protocol::Tls { sni: None })
    );
}

#[tokio::test]
async fn detection_peeks_without_consuming_and_times_out_to_opaque() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(async move {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"POST /mcp HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        c
    });
    let (mut server, _) = listener.accept().await.unwrap();
    assert_eq!(
        detect(&server, DETECT_TIMEOUT).await.unwrap(),
        Protocol::Http1
    );
    let mut first = [0u8; 4];
    server.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"POST", "the bytes are still there to read");
    drop(client.await.unwrap());

    // A client that waits for the server to speak first.
    let silent = tokio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        detect(&server, Duration::from_millis(200)).await.unwrap(),
        Protocol::Opaque
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    drop(silent.await.unwrap());
    assert_eq!(original_destination(&server), None, "not redirected");
}
