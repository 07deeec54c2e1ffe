use std::time::SystemTime;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::*;
use crate::identity::testing::{Ca, ID_A, ID_B};
use crate::identity::{Roots, Svid, verify};

/// A store holding a certificate for `id` from `ca`.
fn store(ca: &Ca, id: &str) -> Arc<CertStore> {
    let (chain, key) = ca.leaf(&[id]);
    let svid = Svid::validate(chain, key, id, &ca.roots(), SystemTime::now()).unwrap();
    let store = CertStore::new();
    store.publish(svid);
    store
}

fn roots(cas: &[&Ca]) -> Arc<TrustStore> {
    let pem: String = cas.iter().map(|ca| ca.pem()).collect();
    TrustStore::new(Roots::from_pem(pem.as_bytes()).unwrap())
}

type Outcome = (
    std::io::Result<tokio_rustls::client::TlsStream<tokio::io::DuplexStream>>,
    std::io::Result<tokio_rustls::server::TlsStream<tokio::io::DuplexStream>>,
);

async fn handshake(client: ClientConfig, server: ServerConfig) -> Outcome {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let connector = TlsConnector::from(Arc::new(client));
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let name = ServerName::try_from("peer.invalid").unwrap();
    tokio::join!(connector.connect(name, a), acceptor.accept(b))
}

/// The rustls error inside an io::Error.
fn tls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

#[tokio::test]
async fn mutual_tls_works_with_the_expected_identity_both_ways() {
    let ca = Ca::new();
    let client = client_config(store(&ca, ID_A), roots(&[&ca]), ID_B.into()).unwrap();
    let server = server_config(store(&ca, ID_B), roots(&[&ca])).unwrap();
    let (client, server) = handshake(client, server).await;
    let (mut client, mut server) = (client.unwrap(), server.unwrap());
    let peer = server.get_ref().1.peer_certificates().unwrap()[0].clone();
    assert_eq!(verify::spiffe_id(&peer).unwrap(), ID_A);
    client.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
}

#[tokio::test]
async fn a_peer_presenting_another_identity_is_refused_by_the_client() {
    let ca = Ca::new();
    let client = client_config(store(&ca, ID_A), roots(&[&ca]), ID_A.into()).unwrap();
    let server = server_config(store(&ca, ID_B), roots(&[&ca])).unwrap();
    let (client, _) = handshake(client, server).await;
    let e = client.unwrap_err();
    assert!(
        matches!(
            tls_error(&e),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
            ))
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_rejected_in_the_handshake() {
    let (ca, other) = (Ca::new(), Ca::new());
    let client = client_config(store(&other, ID_A), roots(&[&ca]), ID_B.into()).unwrap();
    let server = server_config(store(&ca, ID_B), roots(&[&ca])).unwrap();
    let (client, server) = handshake(client, server).await;
    let e = server.unwrap_err();
    assert!(
        matches!(
            tls_error(&e),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{e}"
    );
    // TLS 1.3: the client finished first and learns of the rejection on its next read.
    if let Ok(mut client) = client {
        let mut buf = [0u8; 1];
        let e = client.read(&mut buf).await.unwrap_err();
        assert!(
            matches!(
                tls_error(&e),
                Some(rustls::Error::AlertReceived(
                    rustls::AlertDescription::UnknownCA
                ))
            ),
            "{e}"
        );
    }
}

#[tokio::test]
async fn a_client_without_a_certificate_is_rejected() {
    let ca = Ca::new();
    let client = client_config(CertStore::new(), roots(&[&ca]), ID_B.into()).unwrap();
    let server = server_config(store(&ca, ID_B), roots(&[&ca])).unwrap();
    let (_, server) = handshake(client, server).await;
    let e = server.unwrap_err();
    assert!(
        matches!(tls_error(&e), Some(rustls::Error::NoCertificatesPresented)),
        "{e}"
    );
}

#[tokio::test]
async fn a_rotated_trust_bundle_applies_to_the_next_handshake() {
    let (ca, new_ca) = (Ca::new(), Ca::new());
    let server_trust = roots(&[&ca]);
    let server = server_config(store(&ca, ID_B), server_trust.clone()).unwrap();
    let client = client_config(store(&new_ca, ID_A), roots(&[&ca]), ID_B.into()).unwrap();
    let (_, refused) = handshake(client.clone(), server.clone()).await;
    assert!(refused.is_err(), "the new CA is not trusted yet");
    let both = format!("{}{}", ca.pem(), new_ca.pem());
    server_trust.replace(Roots::from_pem(both.as_bytes()).unwrap());
    let (client, server) = handshake(client, server).await;
    assert!(
        client.is_ok() && server.is_ok(),
        "trusted after the bundle changed"
    );
}
