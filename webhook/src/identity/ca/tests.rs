use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use time::Duration;

use super::rotate::initial;
use super::*;
use crate::identity::issue::{Validity, first_der, issue_svid, verify};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ca_params(cn: &str, not_after: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    params.not_before = now() - Duration::hours(1);
    params.not_after = not_after;
    params
}

/// A user-supplied pair: a corporate root and an intermediate it signed, which signs.
fn corporate(intermediate_until: OffsetDateTime) -> SecretData {
    let root_key = KeyPair::generate().unwrap();
    let root_params = ca_params("corp root", now() + Duration::days(3000));
    let root = root_params.self_signed(&root_key).unwrap();
    let issuer = rcgen::Issuer::new(root_params, root_key);
    let key = KeyPair::generate().unwrap();
    let cert = ca_params("corp agentnet", intermediate_until)
        .signed_by(&key, &issuer)
        .unwrap();
    SecretData::from([
        ("signer".to_owned(), b"corp".to_vec()),
        (
            "corp.crt".to_owned(),
            format!("{}{}", cert.pem(), root.pem()).into_bytes(),
        ),
        ("corp.key".to_owned(), key.serialize_pem().into_bytes()),
    ])
}

#[test]
fn generated_pool_has_one_root_that_signs() {
    let data = initial(now()).unwrap();
    let pool = CaPool::from_data(&data, now()).unwrap();
    assert_eq!(pool.roots().len(), 1);
    assert_eq!(pool.trust_bundle().matches("BEGIN CERTIFICATE").count(), 1);
    assert!(pool.signer().intermediates().is_empty());
    assert!(pool.signer().id.starts_with("root-"));
    assert!(pool.signer().not_after - now() > Duration::days(3600));
}

#[test]
fn intermediate_signer_is_sent_with_leaves_and_its_root_trusted() {
    let pool = CaPool::from_data(&corporate(now() + Duration::days(30)), now()).unwrap();
    assert_eq!(pool.roots().len(), 1);
    assert_eq!(pool.signer().intermediates().len(), 1);
    let key = KeyPair::generate().unwrap();
    let validity = Validity::capped(
        now(),
        std::time::Duration::from_secs(3600),
        pool.signer().not_after,
    )
    .unwrap();
    let leaf = issue_svid(pool.signer(), &key, "spiffe://td/ns/a/sa/b", validity).unwrap();
    assert_eq!(leaf.chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
    let der = first_der(&leaf.chain_pem).unwrap();
    verify(&der, pool.signer().intermediates(), pool.roots(), now()).unwrap();
    assert!(
        verify(&der, &[], pool.roots(), now()).is_err(),
        "without the intermediate the leaf does not chain"
    );
}

#[test]
fn signer_expiry_is_the_earliest_along_its_chain() {
    let until = now() + Duration::days(30);
    let pool = CaPool::from_data(&corporate(until), now()).unwrap();
    assert_eq!(
        pool.signer().not_after.unix_timestamp(),
        until.unix_timestamp()
    );
}

#[test]
fn expired_signer_is_refused() {
    let data = corporate(now() - Duration::minutes(5));
    assert_eq!(
        CaPool::from_data(&data, now()).unwrap_err(),
        CaError::Expired("corp".into())
    );
}

#[test]
fn signer_must_exist_and_hold_a_matching_key() {
    let data = initial(now()).unwrap();
    let id = String::from_utf8(data[SIGNER].clone()).unwrap();
    let mut no_signer = data.clone();
    no_signer.remove(SIGNER);
    assert_eq!(
        CaPool::from_data(&no_signer, now()).unwrap_err(),
        CaError::NoSigner
    );
    let mut unknown = data.clone();
    unknown.insert(SIGNER.into(), b"nope".to_vec());
    assert_eq!(
        CaPool::from_data(&unknown, now()).unwrap_err(),
        CaError::UnknownSigner("nope".into())
    );
    let mut keyless = data.clone();
    keyless.remove(&format!("{id}.key"));
    assert_eq!(
        CaPool::from_data(&keyless, now()).unwrap_err(),
        CaError::NoKey(id.clone())
    );
    let mut wrong_key = data;
    let other = KeyPair::generate().unwrap().serialize_pem();
    wrong_key.insert(format!("{id}.key"), other.into_bytes());
    let err = CaPool::from_data(&wrong_key, now()).unwrap_err();
    assert!(
        matches!(err, CaError::Invalid { ref reason, .. } if reason.contains("does not match")),
        "{err}"
    );
}

#[test]
fn non_ca_certificates_and_stray_entries_are_refused() {
    let mut data = initial(now()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["x.example".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    data.insert("leaf.crt".into(), leaf.pem().into_bytes());
    let err = CaPool::from_data(&data, now()).unwrap_err();
    assert!(
        matches!(err, CaError::Invalid { ref id, .. } if id == "leaf"),
        "{err}"
    );
    data.remove("leaf.crt");
    data.insert("ca.pem".into(), b"x".to_vec());
    assert_eq!(
        CaPool::from_data(&data, now()).unwrap_err(),
        CaError::UnexpectedKey("ca.pem".into())
    );
}

#[test]
fn chain_whose_links_do_not_verify_is_refused() {
    let mut data = corporate(now() + Duration::days(30));
    let stranger = ca_params("stranger", now() + Duration::days(30))
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap();
    let chain = String::from_utf8(data["corp.crt"].clone()).unwrap();
    let intermediate = &chain[..chain.find("-----END CERTIFICATE-----").unwrap() + 26];
    data.insert(
        "corp.crt".into(),
        format!("{intermediate}{}", stranger.pem()).into_bytes(),
    );
    let err = CaPool::from_data(&data, now()).unwrap_err();
    assert!(
        matches!(err, CaError::Invalid { ref reason, .. } if reason.contains("not signed")),
        "{err}"
    );
}

#[test]
fn debug_output_never_shows_the_key() {
    let data = initial(now()).unwrap();
    let pool = CaPool::from_data(&data, now()).unwrap();
    let text = format!("{pool:?}");
    assert!(
        text.contains("<redacted>") && !text.contains("PRIVATE KEY"),
        "{text}"
    );
}
