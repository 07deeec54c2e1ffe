//! mTLS between sidecars: the rustls configurations of the inbound listener and of
//! connections to peer sidecars. Both present our X.509-SVID through the certificate
//! store (key and chain swapped together at renewal, read per handshake) and verify the
//! other side against the trust bundle in force; `peers` says which destinations are
//! sidecars and who they must be, `mesh` is the client that reaches them.

pub mod mesh;
pub mod peers;
pub mod verifier;

use std::sync::Arc;

use rustls::{ClientConfig, ServerConfig};

use crate::identity::{CertStore, Resolver, TrustStore};
use verifier::{PeerVerifier, SvidClientVerifier};

pub use mesh::Mesh;
pub use peers::{Peer, Peers};

/// The inbound listener's: our SVID, and a client SVID required in the handshake.
pub fn server_config(
    store: Arc<CertStore>,
    trust: Arc<TrustStore>,
) -> Result<ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(SvidClientVerifier::new(trust)))
        .with_cert_resolver(Arc::new(Resolver(store)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// For connections to a peer sidecar that must be `expected`: our SVID as the client
/// certificate.
pub fn client_config(
    store: Arc<CertStore>,
    trust: Arc<TrustStore>,
    expected: Arc<str>,
) -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PeerVerifier::new(trust, expected)))
        .with_client_cert_resolver(Arc::new(Resolver(store)));
    Ok(config)
}

#[cfg(test)]
mod tests;
