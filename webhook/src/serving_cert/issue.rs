//! The self-signed CA and the serving certificate it signs (rcgen, ECDSA P-256), and
//! the checks that decide when they must be reissued.

use std::collections::BTreeSet;
use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::parse_x509_pem;

/// A certificate and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("reading a PEM certificate: {0}")]
    Parse(String),
}

/// What a certificate says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    pub not_after: OffsetDateTime,
    /// DNS names and IP addresses (as text) in the subjectAltName.
    pub names: BTreeSet<String>,
}

const CA_LIFETIME: Duration = Duration::days(3650);
const SERVING_LIFETIME: Duration = Duration::days(365);
/// Reissue this long before expiry, so an outage never meets an expired certificate.
pub const RENEW_BEFORE: Duration = Duration::days(30);
/// Tolerates clocks behind ours.
const BACKDATE: Duration = Duration::hours(1);

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// A new CA (10 years), only able to sign certificates (path length 0).
pub fn new_ca(now: OffsetDateTime) -> Result<Issued, IssueError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = name("agentnet-webhook-ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - BACKDATE;
    params.not_after = now + CA_LIFETIME;
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A serving certificate (1 year) for `names` (DNS names or IP addresses), signed by
/// `ca` and never outliving it.
pub fn issue_serving(
    ca: &Issued,
    names: &[String],
    now: OffsetDateTime,
) -> Result<Issued, IssueError> {
    let ca_info = inspect(&ca.cert_pem)?;
    let mut params = CertificateParams::new(names.to_vec())?;
    params.distinguished_name = name(
        names
            .first()
            .map(String::as_str)
            .unwrap_or("agentnet-webhook"),
    );
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - BACKDATE;
    params.not_after = (now + SERVING_LIFETIME).min(ca_info.not_after);
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, KeyPair::from_pem(&ca.key_pem)?)?;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Expiry and names of the first certificate in `pem`.
pub fn inspect(pem: &str) -> Result<CertInfo, IssueError> {
    let (_, pem) = parse_x509_pem(pem.as_bytes()).map_err(|e| IssueError::Parse(e.to_string()))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| IssueError::Parse(e.to_string()))?;
    let not_after = cert.validity().not_after.to_datetime();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| IssueError::Parse(e.to_string()))?;
    let names = san
        .iter()
        .flat_map(|s| s.value.general_names.iter())
        .filter_map(name_text)
        .collect();
    Ok(CertInfo { not_after, names })
}

/// True when `info` expires within `RENEW_BEFORE` of `now` or lacks one of `names`.
pub fn needs_reissue(info: &CertInfo, names: &[String], now: OffsetDateTime) -> bool {
    info.not_after - RENEW_BEFORE <= now
        || names.iter().any(|n| !info.names.contains(&canonical(n)))
}

fn name_text(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(d) => Some((*d).to_owned()),
        GeneralName::IPAddress(bytes) => ip_from_bytes(bytes).map(|ip| ip.to_string()),
        _ => None,
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// IP addresses compare in their canonical text form (`::1`, not `0:0:…:1`).
fn canonical(name: &str) -> String {
    name.parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .unwrap_or_else(|_| name.to_owned())
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

#[cfg(test)]
mod tests;
