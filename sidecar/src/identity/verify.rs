//! X.509-SVID checks shared by every place a certificate is trusted: our own new
//! certificate before it is published, a peer sidecar's server certificate, and an
//! inbound client's certificate. The chain must verify against the trust bundle (for
//! client and/or server use), and the leaf must be an SVID: not a CA, exactly one URI
//! SAN, and that URI a SPIFFE ID.

use agentnet_policy::Source;
use rustls::pki_types::{CertificateDer, UnixTime};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::trust::Roots;

/// What a certificate is used for in the handshake being verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Client,
    Server,
    /// Our own certificate: we present it both ways.
    Both,
}

/// Why a certificate is not a usable X.509-SVID.
#[derive(Debug, thiserror::Error)]
pub enum SvidError {
    #[error("no certificate")]
    Empty,
    #[error("the certificate does not parse: {0}")]
    Parse(String),
    #[error("the trust bundle is empty")]
    NoRoots,
    #[error("the chain does not verify against the trust bundle: {0}")]
    Chain(webpki::Error),
    #[error("the leaf is a CA certificate")]
    Ca,
    #[error("the leaf has {0} URI SANs; an X.509-SVID has exactly one")]
    UriCount(usize),
    #[error("the leaf's URI SAN {0:?} is not a SPIFFE ID")]
    NotSpiffe(String),
    #[error("the certificate is for {found}, expected {expected}")]
    Identity { found: String, expected: String },
    #[error("the certificate's key does not match the private key: {0}")]
    KeyMismatch(String),
    #[error("the private key is unusable: {0}")]
    Key(String),
    #[error("the certificate is not valid now (notBefore {not_before}, notAfter {not_after})")]
    Time { not_before: i64, not_after: i64 },
}

/// Verifies `leaf` and `intermediates` against `roots` at `now` for `usage`.
pub fn chain(
    roots: &Roots,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    usage: Usage,
) -> Result<(), SvidError> {
    if roots.is_empty() {
        return Err(SvidError::NoRoots);
    }
    let cert = webpki::EndEntityCert::try_from(leaf).map_err(SvidError::Chain)?;
    for usage in usage.key_usages() {
        cert.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            roots.anchors(),
            intermediates,
            now,
            usage,
            None,
            None,
        )
        .map_err(SvidError::Chain)?;
    }
    Ok(())
}

// === impl Usage ===

impl Usage {
    fn key_usages(self) -> Vec<webpki::KeyUsage> {
        let (client, server) = (
            webpki::KeyUsage::client_auth(),
            webpki::KeyUsage::server_auth(),
        );
        match self {
            Usage::Client => vec![client],
            Usage::Server => vec![server],
            Usage::Both => vec![client, server],
        }
    }
}

/// The SPIFFE ID of an SVID leaf: its one URI SAN, which must parse as a SPIFFE ID.
pub fn spiffe_id(leaf: &CertificateDer<'_>) -> Result<String, SvidError> {
    let (_, cert) = X509Certificate::from_der(leaf).map_err(|e| SvidError::Parse(e.to_string()))?;
    spiffe_id_of(&cert)
}

pub fn spiffe_id_of(cert: &X509Certificate<'_>) -> Result<String, SvidError> {
    if cert.is_ca() {
        return Err(SvidError::Ca);
    }
    let san = cert
        .subject_alternative_name()
        .map_err(|e| SvidError::Parse(e.to_string()))?;
    let uris: Vec<&str> = san
        .iter()
        .flat_map(|s| s.value.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        })
        .collect();
    let [uri] = uris.as_slice() else {
        return Err(SvidError::UriCount(uris.len()));
    };
    Source::from_spiffe_id(uri).map_err(|_| SvidError::NotSpiffe((*uri).to_owned()))?;
    Ok((*uri).to_owned())
}

/// When a verified leaf stops being valid (its notAfter).
pub fn not_after(leaf: &CertificateDer<'_>) -> Result<std::time::SystemTime, SvidError> {
    let (_, cert) = X509Certificate::from_der(leaf).map_err(|e| SvidError::Parse(e.to_string()))?;
    let secs = u64::try_from(cert.validity().not_after.timestamp()).unwrap_or(0);
    Ok(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// `spiffe_id(leaf)`, which must equal `expected`.
pub fn expect_identity(leaf: &CertificateDer<'_>, expected: &str) -> Result<(), SvidError> {
    let found = spiffe_id(leaf)?;
    if found != expected {
        return Err(SvidError::Identity {
            found,
            expected: expected.to_owned(),
        });
    }
    Ok(())
}

/// The rustls error a failed peer check becomes (the alert the peer receives follows
/// from it: an unknown issuer is `unknown_ca`, the rest `bad_certificate`).
pub fn to_rustls(e: SvidError) -> rustls::Error {
    use rustls::CertificateError as C;
    let error = match e {
        SvidError::Chain(webpki::Error::UnknownIssuer) | SvidError::NoRoots => C::UnknownIssuer,
        SvidError::Chain(webpki::Error::CertExpired { .. }) => C::Expired,
        SvidError::Chain(webpki::Error::CertNotValidYet { .. }) => C::NotValidYet,
        SvidError::Chain(webpki::Error::BadDer) | SvidError::Parse(_) => C::BadEncoding,
        SvidError::Chain(webpki::Error::InvalidSignatureForPublicKey) => C::BadSignature,
        SvidError::Identity { .. } => C::NotValidForName,
        other => C::Other(rustls::OtherError(std::sync::Arc::new(other))),
    };
    rustls::Error::InvalidCertificate(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::testing::{Ca, ID_A, ID_B};

    #[test]
    fn accepts_an_svid_chained_to_the_bundle_for_both_uses() {
        let ca = Ca::new();
        let (chain, _) = ca.leaf(&[ID_A]);
        let roots = ca.roots();
        chain_ok(&roots, &chain, Usage::Both).unwrap();
        assert_eq!(spiffe_id(&chain[0]).unwrap(), ID_A);
        expect_identity(&chain[0], ID_A).unwrap();
        let wrong = expect_identity(&chain[0], ID_B).unwrap_err();
        assert!(matches!(wrong, SvidError::Identity { .. }), "{wrong}");
    }

    #[test]
    fn refuses_another_ca_and_an_empty_bundle() {
        let (ca, other) = (Ca::new(), Ca::new());
        let (chain, _) = other.leaf(&[ID_A]);
        let e = chain_ok(&ca.roots(), &chain, Usage::Client).unwrap_err();
        assert!(
            matches!(e, SvidError::Chain(webpki::Error::UnknownIssuer)),
            "{e}"
        );
        let e = chain_ok(&Roots::default(), &chain, Usage::Client).unwrap_err();
        assert!(matches!(e, SvidError::NoRoots));
    }

    #[test]
    fn refuses_leaves_that_are_not_svids() {
        let ca = Ca::new();
        let (two, _) = ca.leaf(&[ID_A, ID_B]);
        assert!(matches!(spiffe_id(&two[0]), Err(SvidError::UriCount(2))));
        let (none, _) = ca.leaf(&[]);
        assert!(matches!(spiffe_id(&none[0]), Err(SvidError::UriCount(0))));
        let (http, _) = ca.leaf(&["https://example.com/x"]);
        assert!(matches!(spiffe_id(&http[0]), Err(SvidError::NotSpiffe(_))));
        assert!(matches!(spiffe_id(&ca.cert_der()), Err(SvidError::Ca)));
    }

    fn chain_ok(
        roots: &Roots,
        certs: &[CertificateDer<'static>],
        usage: Usage,
    ) -> Result<(), SvidError> {
        chain(roots, &certs[0], &certs[1..], UnixTime::now(), usage)
    }
}
