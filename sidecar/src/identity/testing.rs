//! Test support: an in-memory CA (rcgen) that issues SVID-shaped leaves, and signs CSRs
//! the way the identity service does. Unit tests only; the integration and e2e tests
//! use a real HTTPS identity service.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::time::ASN1Time;

use super::trust::Roots;

pub const ID_A: &str = "spiffe://cluster.local/ns/agents/sa/a";
pub const ID_B: &str = "spiffe://cluster.local/ns/agents/sa/b";

pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert: rcgen::Certificate,
}

impl Ca {
    pub fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let name = format!("test CA {}", rand::random::<u64>());
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            issuer: Issuer::new(params, key),
            cert,
        }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    pub fn roots(&self) -> Roots {
        Roots::from_pem(self.pem().as_bytes()).unwrap()
    }

    /// A leaf for `uris`, valid from a minute ago for an hour, and its key.
    pub fn leaf(&self, uris: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let now = unix(SystemTime::now());
        self.leaf_valid(uris, (now - 60, now + 3600))
    }

    /// A leaf for `uris` valid between the two Unix times, and its key.
    pub fn leaf_valid(
        &self,
        uris: &[&str],
        (from, until): (i64, i64),
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let params = svid_params(uris, (from, until));
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (vec![cert.der().clone()], private_key(&key))
    }

    /// Signs `csr_pem` as the identity service would, for `lifetime` from now.
    pub fn sign_csr(&self, csr_pem: &str, lifetime: Duration) -> String {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem).unwrap();
        let now = unix(SystemTime::now());
        let until = now + i64::try_from(lifetime.as_secs()).unwrap();
        let uris: Vec<String> = csr
            .params
            .subject_alt_names
            .iter()
            .map(|san| match san {
                SanType::URI(uri) => uri.as_str().to_owned(),
                other => panic!("unexpected SAN {other:?}"),
            })
            .collect();
        let uris: Vec<&str> = uris.iter().map(String::as_str).collect();
        csr.params = svid_params(&uris, (now - 60, until));
        csr.signed_by(&self.issuer).unwrap().pem()
    }
}

fn svid_params(uris: &[&str], (from, until): (i64, i64)) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = uris
        .iter()
        .map(|u| SanType::URI((*u).try_into().unwrap()))
        .collect();
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = ASN1Time::from_timestamp(from).unwrap().to_datetime();
    params.not_after = ASN1Time::from_timestamp(until).unwrap().to_datetime();
    params
}

pub fn private_key(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

pub fn unix(t: SystemTime) -> i64 {
    i64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}
