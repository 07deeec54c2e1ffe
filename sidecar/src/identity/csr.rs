//! Key and CSR: a fresh ECDSA P-256 key, in memory only, for every renewal, and a
//! PKCS#10 request for it with an empty subject (rcgen's default `CN=rcgen self signed
//! cert` is cleared) and exactly one URI SAN, our SPIFFE ID: the one form the identity
//! service accepts besides an empty request, and the one that says what we expect.

use std::fmt;

use rcgen::{CertificateParams, DistinguishedName, KeyPair, PKCS_ECDSA_P256_SHA256, SanType};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A new key and the CSR for it. `Debug` never shows the key.
pub struct KeyAndCsr {
    pub key: PrivateKeyDer<'static>,
    pub csr_pem: String,
}

#[derive(Debug, thiserror::Error)]
#[error("making the key or CSR failed: {0}")]
pub struct CsrError(#[from] rcgen::Error);

/// A fresh P-256 key and a CSR asking for `spiffe_id` as its only name.
pub fn generate(spiffe_id: &str) -> Result<KeyAndCsr, CsrError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = vec![SanType::URI(spiffe_id.try_into()?)];
    let csr_pem = params.serialize_request(&key)?.pem()?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok(KeyAndCsr { key, csr_pem })
}

impl fmt::Debug for KeyAndCsr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyAndCsr")
            .field("key", &"<redacted>")
            .field("csr_pem", &self.csr_pem)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use x509_parser::certification_request::X509CertificationRequest;
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::prelude::FromDer;

    use super::*;
    use crate::identity::testing::ID_A;

    #[test]
    fn the_csr_has_an_empty_subject_and_only_our_uri_san() {
        let made = generate(ID_A).unwrap();
        let der = rustls::pki_types::pem::PemObject::from_pem_slice(made.csr_pem.as_bytes())
            .map(|d: rustls::pki_types::CertificateSigningRequestDer<'_>| d.as_ref().to_vec())
            .unwrap();
        let (_, csr) = X509CertificationRequest::from_der(&der).unwrap();
        csr.verify_signature().unwrap();
        let info = &csr.certification_request_info;
        assert_eq!(info.subject.iter().count(), 0, "subject {}", info.subject);
        let extensions: Vec<_> = csr.requested_extensions().into_iter().flatten().collect();
        let [ParsedExtension::SubjectAlternativeName(san)] = extensions.as_slice() else {
            panic!("expected only a SAN, got {extensions:?}");
        };
        assert_eq!(san.general_names, vec![GeneralName::URI(ID_A)]);
        assert_eq!(
            info.subject_pki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok()),
            Some(x509_parser::oid_registry::OID_EC_P256)
        );
    }

    #[test]
    fn every_call_makes_a_new_key_and_debug_hides_it() {
        let (a, b) = (generate(ID_A).unwrap(), generate(ID_A).unwrap());
        assert_ne!(a.key.secret_der(), b.key.secret_der());
        assert!(format!("{a:?}").contains("<redacted>"));
    }
}
