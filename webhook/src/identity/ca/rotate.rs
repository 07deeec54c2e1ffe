//! CA rotation as pure edits of the Secret's data, each validated as a whole pool:
//!
//! 1. `add_root`: a new root is trusted at once (every bundle gains it) but signs nothing;
//! 2. `use_signer`: once every sidecar has the new bundle, new certificates come from it;
//! 3. `remove_root`: once the old root's certificates have expired, it is dropped.
//!
//! Old and new certificates verify against the bundle throughout.

use rand::Rng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use super::{CERT_SUFFIX, CaError, CaPool, KEY_SUFFIX, SIGNER, SecretData};

/// Roots last ten years, as Istio's self-signed root does.
const ROOT_LIFETIME: Duration = Duration::days(3650);
/// Tolerates clocks behind ours.
const ROOT_BACKDATE: Duration = Duration::hours(1);

/// What `ca list` shows about one CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub id: String,
    pub signer: bool,
    pub has_key: bool,
    pub subject: String,
    pub not_after: OffsetDateTime,
}

/// A Secret's data with one fresh root that signs.
pub fn initial(now: OffsetDateTime) -> Result<SecretData, CaError> {
    let id = new_id(now);
    let (data, _) = add_root(&SecretData::new(), Some(&id), now)?;
    let mut data = data;
    data.insert(SIGNER.to_owned(), id.into_bytes());
    CaPool::from_data(&data, now)?;
    Ok(data)
}

/// Adds a new root (trusted, not signing); returns the data and the new id.
pub fn add_root(
    data: &SecretData,
    id: Option<&str>,
    now: OffsetDateTime,
) -> Result<(SecretData, String), CaError> {
    let id = id.map_or_else(|| new_id(now), str::to_owned);
    check_id(&id)?;
    if data.contains_key(&cert_key(&id)) {
        return Err(CaError::Exists(id));
    }
    let (cert, key) = new_root(&id, now)?;
    let mut next = data.clone();
    next.insert(cert_key(&id), cert.into_bytes());
    next.insert(key_key(&id), key.into_bytes());
    if next.contains_key(SIGNER) {
        CaPool::from_data(&next, now)?;
    }
    Ok((next, id))
}

/// Makes `id` the signer.
pub fn use_signer(data: &SecretData, id: &str, now: OffsetDateTime) -> Result<SecretData, CaError> {
    let mut next = data.clone();
    next.insert(SIGNER.to_owned(), id.as_bytes().to_vec());
    CaPool::from_data(&next, now)?;
    Ok(next)
}

/// Stops trusting `id`.
pub fn remove_root(
    data: &SecretData,
    id: &str,
    now: OffsetDateTime,
) -> Result<SecretData, CaError> {
    let signer = data
        .get(SIGNER)
        .map(|s| String::from_utf8_lossy(s).trim().to_owned());
    if signer.as_deref() == Some(id) {
        return Err(CaError::RemovingSigner(id.to_owned()));
    }
    let mut next = data.clone();
    if next.remove(&cert_key(id)).is_none() {
        return Err(CaError::UnknownSigner(id.to_owned()));
    }
    next.remove(&key_key(id));
    CaPool::from_data(&next, now)?;
    Ok(next)
}

/// Every CA in the data, for `ca list`.
pub fn summaries(data: &SecretData) -> Vec<Summary> {
    let signer = data
        .get(SIGNER)
        .map(|s| String::from_utf8_lossy(s).trim().to_owned());
    let ids = data.keys().filter_map(|k| k.strip_suffix(CERT_SUFFIX));
    ids.filter_map(|id| {
        let pem = String::from_utf8_lossy(data.get(&cert_key(id))?);
        let der = crate::identity::issue::first_der(&pem)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
        Some(Summary {
            id: id.to_owned(),
            signer: signer.as_deref() == Some(id),
            has_key: data.contains_key(&key_key(id)),
            subject: cert.subject().to_string(),
            not_after: cert.validity().not_after.to_datetime(),
        })
    })
    .collect()
}

fn new_root(id: &str, now: OffsetDateTime) -> Result<(String, String), CaError> {
    let build = |e: rcgen::Error| CaError::Invalid {
        id: id.to_owned(),
        reason: e.to_string(),
    };
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "agentnet");
    params
        .distinguished_name
        .push(DnType::CommonName, format!("agentnet identity {id}"));
    // Path length 1: the root may sign an intermediate, which signs workloads.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - ROOT_BACKDATE;
    params.not_after = now + ROOT_LIFETIME;
    let key = KeyPair::generate().map_err(build)?;
    let cert = params.self_signed(&key).map_err(build)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// `root-<yyyymmdd>-<4 hex digits>`.
pub fn new_id(now: OffsetDateTime) -> String {
    let suffix: u16 = rand::rng().random();
    let (y, m, d) = (now.year(), u8::from(now.month()), now.day());
    format!("root-{y:04}{m:02}{d:02}-{suffix:04x}")
}

fn check_id(id: &str) -> Result<(), CaError> {
    let ok = !id.is_empty()
        && id.len() <= 50
        && id != SIGNER
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(())
        .ok_or_else(|| CaError::BadId(id.to_owned()))
}

fn cert_key(id: &str) -> String {
    format!("{id}{CERT_SUFFIX}")
}

fn key_key(id: &str) -> String {
    format!("{id}{KEY_SUFFIX}")
}

#[cfg(test)]
mod tests;
