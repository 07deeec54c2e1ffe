//! Certificate signing requests: parsed, their self-signature verified, and checked
//! against the identity the caller proved.
//!
//! The SPIFFE ID comes from the caller's token, never from the CSR. A CSR may therefore
//! ask for nothing at all (the recommended form: empty subject, no extensions) or for
//! exactly that SPIFFE ID as its one URI SAN. Anything more (a subject, another SAN, any
//! other extension) is asking for something else and is refused, as Linkerd refuses an
//! identity mismatch, rather than silently dropped.

use rcgen::{PKCS_ECDSA_P256_SHA256, PublicKeyData, SubjectPublicKeyInfo};
use rustls::pki_types::CertificateSigningRequestDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

/// A CSR whose signature verified: the key to certify and what it asks for.
#[derive(Debug)]
pub struct Csr {
    pub public_key: SubjectPublicKeyInfo,
    /// The subject as text; empty when the subject is empty.
    pub subject: String,
    /// Requested subjectAltNames, as text (`URI:…`, `DNS:…`, …).
    pub sans: Vec<String>,
    /// OIDs of requested extensions other than subjectAltName.
    pub other_extensions: Vec<String>,
}

/// The CSR cannot be used at all (HTTP 400).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    #[error("the csr is not one PEM \"CERTIFICATE REQUEST\" block")]
    Pem,
    #[error("the csr is not a DER PKCS#10 request: {0}")]
    Der(String),
    #[error("the csr's self-signature does not verify")]
    Signature,
    #[error("unsupported key: only ECDSA P-256 keys are certified")]
    KeyType,
    #[error("unsupported CSR attribute {0}")]
    Attribute(String),
}

/// The CSR asks for an identity or property it may not have (HTTP 403).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Overreach {
    #[error("the csr requests subject {0:?}; SPIFFE certificates have an empty subject")]
    Subject(String),
    #[error("the csr requests {requested}, but the token proves {allowed}")]
    San { requested: String, allowed: String },
    #[error("the csr requests extension {0}; only subjectAltName may be requested")]
    Extension(String),
}

// === impl Csr ===

impl Csr {
    /// Parses a PEM CSR and verifies its self-signature.
    pub fn from_pem(text: &str) -> Result<Self, CsrError> {
        if text.matches("-----BEGIN ").count() != 1 {
            return Err(CsrError::Pem);
        }
        let blocks = CertificateSigningRequestDer::pem_slice_iter(text.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| CsrError::Pem)?;
        match blocks.as_slice() {
            [block] => Self::from_der(block.as_ref()),
            _ => Err(CsrError::Pem),
        }
    }

    /// Parses a DER CSR and verifies its self-signature.
    pub fn from_der(der: &[u8]) -> Result<Self, CsrError> {
        let (rest, req) =
            X509CertificationRequest::from_der(der).map_err(|e| CsrError::Der(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CsrError::Der("trailing bytes".into()));
        }
        req.verify_signature().map_err(|_| CsrError::Signature)?;
        let info = &req.certification_request_info;
        let public_key =
            SubjectPublicKeyInfo::from_der(info.subject_pki.raw).map_err(|_| CsrError::KeyType)?;
        if public_key.algorithm() != &PKCS_ECDSA_P256_SHA256 {
            return Err(CsrError::KeyType);
        }
        let mut csr = Self {
            public_key,
            subject: subject_text(&req),
            sans: Vec::new(),
            other_extensions: Vec::new(),
        };
        csr.read_attributes(&req)?;
        Ok(csr)
    }

    /// Ok when the CSR asks for nothing beyond `spiffe_id`.
    pub fn check_requests_only(&self, spiffe_id: &str) -> Result<(), Overreach> {
        if !self.subject.is_empty() {
            return Err(Overreach::Subject(self.subject.clone()));
        }
        if let Some(oid) = self.other_extensions.first() {
            return Err(Overreach::Extension(oid.clone()));
        }
        let allowed = format!("URI:{spiffe_id}");
        match self.sans.as_slice() {
            [] => Ok(()),
            [only] if *only == allowed => Ok(()),
            sans => Err(Overreach::San {
                requested: sans.join(", "),
                allowed,
            }),
        }
    }

    fn read_attributes(&mut self, req: &X509CertificationRequest<'_>) -> Result<(), CsrError> {
        for attribute in req.certification_request_info.iter_attributes() {
            let ParsedCriAttribute::ExtensionRequest(request) = attribute.parsed_attribute() else {
                return Err(CsrError::Attribute(attribute.oid.to_id_string()));
            };
            for extension in &request.extensions {
                match extension.parsed_extension() {
                    ParsedExtension::SubjectAlternativeName(san) => self
                        .sans
                        .extend(san.general_names.iter().map(general_name_text)),
                    _ => self.other_extensions.push(extension.oid.to_id_string()),
                }
            }
        }
        Ok(())
    }
}

fn subject_text(req: &X509CertificationRequest<'_>) -> String {
    let subject = &req.certification_request_info.subject;
    if subject.iter_attributes().next().is_none() {
        return String::new();
    }
    subject.to_string()
}

fn general_name_text(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::URI(uri) => format!("URI:{uri}"),
        GeneralName::DNSName(dns) => format!("DNS:{dns}"),
        GeneralName::RFC822Name(email) => format!("email:{email}"),
        GeneralName::IPAddress(bytes) => format!("IP:{bytes:02x?}"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests;
