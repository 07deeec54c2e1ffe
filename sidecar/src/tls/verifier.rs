//! Certificate verification for mTLS between sidecars, against the trust bundle in
//! force at the handshake (so a rotated bundle applies to the next connection). A peer
//! server must present exactly the SPIFFE ID we expect of it; an inbound client must
//! present an X.509-SVID chained to the bundle (its SPIFFE ID is then the request's
//! source). Names in the TLS sense (SNI, DNS SANs) play no part: SVIDs have none.

use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DistinguishedName, SignatureScheme};

use crate::identity::TrustStore;
use crate::identity::verify::{self, Usage};

/// Verifies a peer sidecar's server certificate.
#[derive(Debug)]
pub struct PeerVerifier {
    trust: Arc<TrustStore>,
    expected: Arc<str>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// Verifies an inbound client's certificate.
#[derive(Debug)]
pub struct SvidClientVerifier {
    trust: Arc<TrustStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

// === impl PeerVerifier ===

impl PeerVerifier {
    pub fn new(trust: Arc<TrustStore>, expected: Arc<str>) -> Self {
        PeerVerifier {
            trust,
            expected,
            algorithms: algorithms(),
        }
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let roots = self.trust.load();
        verify::chain(&roots, end_entity, intermediates, now, Usage::Server)
            .and_then(|()| verify::expect_identity(end_entity, &self.expected))
            .map_err(verify::to_rustls)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

// === impl SvidClientVerifier ===

impl SvidClientVerifier {
    pub fn new(trust: Arc<TrustStore>) -> Self {
        SvidClientVerifier {
            trust,
            algorithms: algorithms(),
        }
    }
}

impl ClientCertVerifier for SvidClientVerifier {
    /// No hints: a client sends the one certificate it has.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let roots = self.trust.load();
        verify::chain(&roots, end_entity, intermediates, now, Usage::Client)
            .and_then(|()| verify::spiffe_id(end_entity))
            .map_err(verify::to_rustls)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
