use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P384_SHA384,
    SanType,
};

use super::*;

const A: &str = "spiffe://cluster.local/ns/team/sa/a";
const B: &str = "spiffe://cluster.local/ns/team/sa/b";

/// A CSR as the sidecar makes it: empty subject, plus `sans`.
fn csr_pem(key: &KeyPair, sans: Vec<SanType>) -> String {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = sans;
    params.serialize_request(key).unwrap().pem().unwrap()
}

fn uri(s: &str) -> SanType {
    SanType::URI(s.try_into().unwrap())
}

#[test]
fn empty_csr_is_accepted_and_keeps_its_key() {
    let key = KeyPair::generate().unwrap();
    let csr = Csr::from_pem(&csr_pem(&key, vec![])).unwrap();
    assert_eq!(csr.public_key.der_bytes(), key.public_key_raw());
    assert_eq!(csr.check_requests_only(A), Ok(()));
}

#[test]
fn csr_naming_its_own_identity_is_accepted() {
    let key = KeyPair::generate().unwrap();
    let csr = Csr::from_pem(&csr_pem(&key, vec![uri(A)])).unwrap();
    assert_eq!(csr.check_requests_only(A), Ok(()));
}

#[test]
fn csr_naming_another_identity_or_more_names_is_overreach() {
    let key = KeyPair::generate().unwrap();
    let cases = [
        vec![uri(B)],
        vec![uri(A), uri(B)],
        vec![uri(A), SanType::DnsName("a.team.svc".try_into().unwrap())],
        vec![SanType::IpAddress("10.0.0.1".parse().unwrap())],
    ];
    for sans in cases {
        let csr = Csr::from_pem(&csr_pem(&key, sans.clone())).unwrap();
        let err = csr.check_requests_only(A).unwrap_err();
        assert!(matches!(err, Overreach::San { .. }), "{sans:?}: {err}");
    }
}

#[test]
fn csr_with_a_subject_is_overreach() {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "admin");
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    let err = Csr::from_pem(&pem).unwrap().check_requests_only(A);
    assert_eq!(err, Err(Overreach::Subject("CN=admin".into())));
}

#[test]
fn csr_requesting_other_extensions_is_overreach() {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    let err = Csr::from_pem(&pem).unwrap().check_requests_only(A);
    assert_eq!(err, Err(Overreach::Extension("2.5.29.15".into())));
}

#[test]
fn tampered_csr_fails_its_signature_check() {
    let key = KeyPair::generate().unwrap();
    let pem = csr_pem(&key, vec![uri(A)]);
    let mut der = CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec();
    // The URI is inside the signed request info: change its last letter.
    let at = der.windows(4).position(|w| w == b"sa/a").unwrap() + 3;
    der[at] = b'b';
    assert_eq!(Csr::from_der(&der).unwrap_err(), CsrError::Signature);
}

#[test]
fn keys_other_than_p256_are_unsupported() {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
    let err = Csr::from_pem(&csr_pem(&key, vec![])).unwrap_err();
    assert_eq!(err, CsrError::KeyType);
}

#[test]
fn anything_but_one_csr_block_is_malformed() {
    let key = KeyPair::generate().unwrap();
    let one = csr_pem(&key, vec![]);
    assert_eq!(Csr::from_pem("hello").unwrap_err(), CsrError::Pem);
    assert_eq!(
        Csr::from_pem(&format!("{one}{one}")).unwrap_err(),
        CsrError::Pem
    );
    let cert = CertificateParams::default()
        .self_signed(&key)
        .unwrap()
        .pem();
    assert_eq!(Csr::from_pem(&cert).unwrap_err(), CsrError::Pem);
    let garbage = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
    assert!(matches!(Csr::from_pem(garbage), Err(CsrError::Der(_))));
}

#[test]
fn openssl_csr_with_an_empty_subject_is_accepted() {
    // `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /`, as
    // docs/identity.md shows (OpenSSL 3 adds an empty extensionRequest).
    let csr = Csr::from_pem(include_str!("openssl-empty-subject.csr")).unwrap();
    assert_eq!(csr.check_requests_only(A), Ok(()));
}
