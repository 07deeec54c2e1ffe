//! Building certificates with the signer: workload X.509-SVIDs and the identity
//! listener's own serving certificate, plus the verification that checks them.
//!
//! An SVID has an empty subject, exactly one URI SAN (marked critical, as the subject
//! is empty), `cA=false`, a critical KeyUsage of digitalSignature only, and the
//! serverAuth and clientAuth ExtendedKeyUsages; it never outlives its signer.

use std::time::Duration as StdDuration;

use rand::RngCore;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, UnixTime};
use time::{Duration, OffsetDateTime};

use super::ca::{CaPool, Signer, to_pem};

/// Tolerates clocks a little behind ours.
pub const BACKDATE: Duration = Duration::minutes(1);
/// Lifetime of the identity listener's certificate (reissued long before it ends).
const SERVER_LIFETIME: StdDuration = StdDuration::from_secs(7 * 86400);
/// Identity of the self-test certificate (never handed out).
const PROBE_ID: &str = "spiffe://agentnet.invalid/ns/agentnet/sa/self-test";

/// An issued certificate and the facts that get logged.
#[derive(Clone, Debug)]
pub struct Leaf {
    /// The leaf, then the signer's intermediates (PEM).
    pub chain_pem: String,
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// When a certificate is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("the signing CA expires at {0}; it can issue nothing more")]
    SignerExpired(OffsetDateTime),
    #[error("building the certificate: {0}")]
    Build(String),
}

// === impl Validity ===

impl Validity {
    /// From a minute ago to `lifetime` from now, never past `cap` (the signer's expiry).
    /// Whole seconds, as X.509 stores them.
    pub fn capped(
        now: OffsetDateTime,
        lifetime: StdDuration,
        cap: OffsetDateTime,
    ) -> Result<Self, IssueError> {
        let now = whole_seconds(now);
        let lifetime = Duration::try_from(lifetime).unwrap_or(Duration::MAX);
        let not_after = now.saturating_add(lifetime).min(whole_seconds(cap));
        if not_after <= now {
            return Err(IssueError::SignerExpired(cap));
        }
        Ok(Self {
            not_before: now - BACKDATE,
            not_after,
        })
    }

    pub fn lifetime(&self) -> Duration {
        self.not_after - self.not_before
    }
}

/// The X.509-SVID for `spiffe_id` and `key`.
pub fn issue_svid(
    signer: &Signer,
    key: &impl PublicKeyData,
    spiffe_id: &str,
    validity: Validity,
) -> Result<Leaf, IssueError> {
    let build = |e: rcgen::Error| IssueError::Build(e.to_string());
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = vec![SanType::URI(spiffe_id.try_into().map_err(build)?)];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let serial = random_serial();
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    let cert = params.signed_by(key, signer.issuer()).map_err(build)?;
    Ok(Leaf {
        chain_pem: format!("{}{}", to_pem(cert.der()), signer.intermediates_pem()),
        serial: serial.iter().map(|b| format!("{b:02x}")).collect(),
        not_before: validity.not_before,
        not_after: validity.not_after,
    })
}

/// A certificate (and fresh key) for the identity listener: DNS names and IPs, for
/// serverAuth, so sidecars verify the listener with the trust bundle they already have.
pub fn issue_server(
    signer: &Signer,
    names: &[String],
    now: OffsetDateTime,
) -> Result<(String, String), IssueError> {
    let build = |e: rcgen::Error| IssueError::Build(e.to_string());
    let validity = Validity::capped(now, SERVER_LIFETIME, signer.not_after)?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(build)?;
    params.distinguished_name = DistinguishedName::new();
    if let Some(first) = names.first() {
        params.distinguished_name.push(DnType::CommonName, first);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    let key = KeyPair::generate().map_err(build)?;
    let cert = params.signed_by(&key, signer.issuer()).map_err(build)?;
    let chain = format!("{}{}", to_pem(cert.der()), signer.intermediates_pem());
    Ok((chain, key.serialize_pem()))
}

/// Verifies `leaf` (with `intermediates`) against `roots` at `now` for client and
/// server authentication.
pub fn verify(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    roots: &[CertificateDer<'_>],
    now: OffsetDateTime,
) -> Result<(), String> {
    let anchors = roots
        .iter()
        .map(|r| webpki::anchor_from_trusted_cert(r).map_err(|e| format!("root: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = webpki::EndEntityCert::try_from(leaf).map_err(|e| format!("leaf: {e}"))?;
    let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    let time = UnixTime::since_unix_epoch(StdDuration::from_secs(secs));
    for usage in [
        webpki::KeyUsage::client_auth(),
        webpki::KeyUsage::server_auth(),
    ] {
        leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            intermediates,
            time,
            usage,
            None,
            None,
        )
        .map_err(|e| format!("verification: {e}"))?;
    }
    Ok(())
}

/// Issues a probe SVID and verifies it against the pool's roots: a pool whose signer
/// does not chain to a trusted root is never published.
pub fn self_test(pool: &CaPool, now: OffsetDateTime) -> Result<(), String> {
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let signer = pool.signer();
    let validity = Validity::capped(now, StdDuration::from_secs(60), signer.not_after)
        .map_err(|e| e.to_string())?;
    let leaf = issue_svid(signer, &key, PROBE_ID, validity).map_err(|e| e.to_string())?;
    let der = first_der(&leaf.chain_pem).ok_or("the probe certificate does not parse")?;
    verify(&der, signer.intermediates(), pool.roots(), now)
}

/// The first certificate of a PEM chain.
pub fn first_der(chain_pem: &str) -> Option<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()?
        .ok()
}

/// 16 random bytes, positive and non-zero as RFC 5280 requires.
fn random_serial() -> [u8; 16] {
    let mut serial = [0u8; 16];
    rand::rng().fill_bytes(&mut serial);
    serial[0] = (serial[0] & 0x7f) | 0x01;
    serial
}

fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

#[cfg(test)]
mod tests;
