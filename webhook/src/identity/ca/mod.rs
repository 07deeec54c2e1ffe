//! The identity CAs, as kept in one Secret in the release namespace:
//!
//! ```text
//! signer:     <id>          which CA signs new certificates
//! <id>.crt:   PEM           a CA certificate, then its issuers up to a self-signed root
//!                           (just the root when the root signs itself)
//! <id>.key:   PEM PKCS#8    its key; only the signer's is required
//! ```
//!
//! Every entry's root is trusted (the trust bundle), so a new root can be trusted
//! everywhere before it signs anything: that is how the CA rotates without downtime
//! (`rotate`). `CaPool::from_data` checks everything, including issuing a probe
//! certificate and verifying it against the roots, before anything is published.

pub mod rotate;
pub mod store;

use std::collections::BTreeMap;
use std::fmt;

use rcgen::{Issuer, KeyPair};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::issue::{self, IssueError};

/// Data key naming the signing CA.
pub const SIGNER: &str = "signer";
pub const CERT_SUFFIX: &str = ".crt";
pub const KEY_SUFFIX: &str = ".key";

/// A Secret's `data`.
pub type SecretData = BTreeMap<String, Vec<u8>>;

/// The loaded CAs: the roots to trust and the CA that signs.
pub struct CaPool {
    roots_pem: String,
    roots: Vec<CertificateDer<'static>>,
    signer: Signer,
}

/// The CA that signs workload certificates.
pub struct Signer {
    pub id: String,
    /// The earliest expiry along the signer's chain: no leaf may outlive it.
    pub not_after: OffsetDateTime,
    issuer: Issuer<'static, KeyPair>,
    /// Certificates between a leaf and its root: the signer itself when it is not the
    /// root, and its issuers below the root.
    intermediates: Vec<CertificateDer<'static>>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaError {
    #[error("the CA Secret has no {SIGNER:?} entry")]
    NoSigner,
    #[error("the signer {0:?} has no {0}.crt entry")]
    UnknownSigner(String),
    #[error("CA {0:?} has no key; only CAs with a {0}.key entry can sign")]
    NoKey(String),
    #[error("CA {id:?}: {reason}")]
    Invalid { id: String, reason: String },
    #[error("CA {0:?} (or a CA above it) has expired")]
    Expired(String),
    #[error("unexpected entry {0:?} (expected signer, <id>.crt or <id>.key)")]
    UnexpectedKey(String),
    #[error("invalid CA id {0:?}: use 1-50 lowercase letters, digits and '-'")]
    BadId(String),
    #[error("CA {0:?} already exists")]
    Exists(String),
    #[error("CA {0:?} signs; switch the signer before removing it")]
    RemovingSigner(String),
    #[error("the CAs fail their self-test: {0}")]
    SelfTest(String),
    #[error(transparent)]
    Issue(#[from] IssueError),
}

// === impl CaPool ===

impl CaPool {
    /// Parses and validates the Secret's data at `now`.
    pub fn from_data(data: &SecretData, now: OffsetDateTime) -> Result<Self, CaError> {
        let chains = chains(data)?;
        let id = text(data, SIGNER).ok_or(CaError::NoSigner)?;
        let chain = chains
            .get(&id)
            .ok_or_else(|| CaError::UnknownSigner(id.clone()))?;
        let key = text(data, &format!("{id}{KEY_SUFFIX}")).ok_or(CaError::NoKey(id.clone()))?;
        let signer = Signer::new(&id, chain, &key, now)?;
        let mut roots: Vec<CertificateDer<'static>> = Vec::new();
        for root in chains.values().filter_map(|c| c.last()) {
            if !roots.contains(root) {
                roots.push(root.clone());
            }
        }
        let pool = Self {
            roots_pem: roots.iter().map(to_pem).collect(),
            roots,
            signer,
        };
        issue::self_test(&pool, now).map_err(CaError::SelfTest)?;
        Ok(pool)
    }

    /// Every trusted root, PEM: what the trust-bundle ConfigMaps carry.
    pub fn trust_bundle(&self) -> &str {
        &self.roots_pem
    }

    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }
}

impl fmt::Debug for CaPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaPool")
            .field("roots", &self.roots.len())
            .field("signer", &self.signer)
            .finish()
    }
}

// === impl Signer ===

impl Signer {
    fn new(
        id: &str,
        chain: &[CertificateDer<'static>],
        key_pem: &str,
        now: OffsetDateTime,
    ) -> Result<Self, CaError> {
        let invalid = |reason: String| CaError::Invalid {
            id: id.to_owned(),
            reason,
        };
        let key = KeyPair::from_pem(key_pem).map_err(|e| invalid(format!("key: {e}")))?;
        let (first, not_after) = signer_facts(chain).map_err(invalid)?;
        if first != key.public_key_raw() {
            return Err(invalid("the key does not match the certificate".into()));
        }
        if not_after <= now {
            return Err(CaError::Expired(id.to_owned()));
        }
        let cert = chain
            .first()
            .ok_or_else(|| invalid("no certificate".into()))?;
        let issuer = Issuer::from_ca_cert_der(cert, key).map_err(|e| invalid(e.to_string()))?;
        let intermediates = chain[..chain.len().saturating_sub(1)].to_vec();
        Ok(Self {
            id: id.to_owned(),
            not_after,
            issuer,
            intermediates,
        })
    }

    pub(super) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    pub fn intermediates(&self) -> &[CertificateDer<'static>] {
        &self.intermediates
    }

    /// The intermediates as PEM, appended to every issued leaf.
    pub fn intermediates_pem(&self) -> String {
        self.intermediates.iter().map(to_pem).collect()
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("id", &self.id)
            .field("not_after", &self.not_after)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The signer's public key and the earliest expiry along its chain; the signer must
/// be allowed to sign certificates.
fn signer_facts(chain: &[CertificateDer<'_>]) -> Result<(Vec<u8>, OffsetDateTime), String> {
    let parsed = chain
        .iter()
        .map(|c| parse(c))
        .collect::<Result<Vec<_>, _>>()?;
    let first = parsed.first().ok_or("no certificate")?;
    if first
        .key_usage()
        .ok()
        .flatten()
        .is_some_and(|ku| !ku.value.key_cert_sign())
    {
        return Err("the certificate may not sign certificates (keyUsage)".into());
    }
    let key = first.public_key().subject_public_key.data.to_vec();
    let not_after = parsed
        .iter()
        .map(|c| c.validity().not_after.to_datetime())
        .min()
        .ok_or("no certificate")?;
    Ok((key, not_after))
}

/// Every `<id>.crt` entry, checked: CA certificates, each signed by the next, ending
/// in a self-signed root.
fn chains(data: &SecretData) -> Result<BTreeMap<String, Vec<CertificateDer<'static>>>, CaError> {
    let mut chains = BTreeMap::new();
    for (key, value) in data {
        if let Some(id) = key.strip_suffix(CERT_SUFFIX) {
            let chain = read_chain(value).map_err(|reason| CaError::Invalid {
                id: id.to_owned(),
                reason,
            })?;
            chains.insert(id.to_owned(), chain);
        } else if key != SIGNER && !key.ends_with(KEY_SUFFIX) {
            return Err(CaError::UnexpectedKey(key.clone()));
        }
    }
    Ok(chains)
}

fn read_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("PEM: {e}"))?;
    let parsed = chain
        .iter()
        .map(|c| parse(c))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, cert) in parsed.iter().enumerate() {
        if !cert.is_ca() {
            return Err(format!("certificate {i} is not a CA (basicConstraints)"));
        }
        let issuer = parsed.get(i + 1).unwrap_or(cert);
        if cert.verify_signature(Some(issuer.public_key())).is_err() {
            return Err(format!("certificate {i} is not signed by the next one"));
        }
    }
    match parsed.last() {
        Some(root) if root.subject() == root.issuer() => Ok(chain),
        Some(_) => Err("the last certificate is not a self-signed root".into()),
        None => Err("no certificate".into()),
    }
}

fn parse<'a>(der: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>, String> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| format!("X.509: {e}"))
}

fn text(data: &SecretData, key: &str) -> Option<String> {
    let value = data.get(key)?;
    let text = std::str::from_utf8(value).ok()?.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// One certificate as PEM (64-column base64, `\n` line endings).
pub fn to_pem(der: &CertificateDer<'_>) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests;
