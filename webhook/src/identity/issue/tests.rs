use rcgen::KeyPair;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{OID_X509_EXT_KEY_USAGE, OID_X509_EXT_SUBJECT_ALT_NAME};

use super::*;
use crate::identity::ca::rotate::initial;

const ID: &str = "spiffe://cluster.local/ns/team/sa/agent";

fn pool() -> CaPool {
    let now = OffsetDateTime::now_utc();
    CaPool::from_data(&initial(now).unwrap(), now).unwrap()
}

fn hour() -> StdDuration {
    StdDuration::from_secs(3600)
}

#[test]
fn svid_has_one_uri_san_empty_subject_and_leaf_usages() {
    let (pool, key, now) = (
        pool(),
        KeyPair::generate().unwrap(),
        OffsetDateTime::now_utc(),
    );
    let validity = Validity::capped(now, hour(), pool.signer().not_after).unwrap();
    let leaf = issue_svid(pool.signer(), &key, ID, validity).unwrap();
    let der = first_der(&leaf.chain_pem).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();

    assert_eq!(cert.subject().iter_attributes().count(), 0, "empty subject");
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert!(san.critical, "SAN is critical when the subject is empty");
    assert_eq!(san.value.general_names, vec![GeneralName::URI(ID)]);
    assert!(!cert.is_ca());
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(!bc.value.ca, "cA=false is stated explicitly");
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.digital_signature());
    assert_eq!(ku.value.flags, 1, "digitalSignature only");
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth && !eku.any);
    assert_eq!(
        cert.public_key().subject_public_key.data,
        key.public_key_raw()
    );
    assert_eq!(cert.raw_serial_as_string().replace(':', ""), leaf.serial);
    let oids: Vec<_> = cert.extensions().iter().map(|e| e.oid.clone()).collect();
    assert!(
        oids.contains(&OID_X509_EXT_SUBJECT_ALT_NAME) && oids.contains(&OID_X509_EXT_KEY_USAGE)
    );
    assert!(cert.extensions().iter().all(|e| !matches!(
        e.parsed_extension(),
        ParsedExtension::UnsupportedExtension { .. }
    )));
    verify(&der, &[], pool.roots(), now).unwrap();
}

#[test]
fn validity_is_backdated_a_minute_and_capped_at_the_signer() {
    let now = OffsetDateTime::now_utc();
    let v = Validity::capped(now, hour(), now + Duration::days(1)).unwrap();
    assert_eq!(v.not_before, whole_seconds(now) - Duration::minutes(1));
    assert_eq!(v.not_after, whole_seconds(now) + Duration::hours(1));
    let cap = now + Duration::minutes(10);
    let capped = Validity::capped(now, hour(), cap).unwrap();
    assert_eq!(capped.not_after, whole_seconds(cap));
    assert_eq!(
        Validity::capped(now, hour(), now - Duration::seconds(1)),
        Err(IssueError::SignerExpired(now - Duration::seconds(1)))
    );
}

#[test]
fn leaf_from_another_ca_does_not_verify() {
    let (ours, theirs, now) = (pool(), pool(), OffsetDateTime::now_utc());
    let key = KeyPair::generate().unwrap();
    let validity = Validity::capped(now, hour(), theirs.signer().not_after).unwrap();
    let leaf = issue_svid(theirs.signer(), &key, ID, validity).unwrap();
    let der = first_der(&leaf.chain_pem).unwrap();
    assert!(verify(&der, &[], ours.roots(), now).is_err());
    let later = now + Duration::hours(2);
    assert!(verify(&der, &[], theirs.roots(), later).is_err(), "expired");
}

#[test]
fn server_certificate_names_the_service_and_ip() {
    let (pool, now) = (pool(), OffsetDateTime::now_utc());
    let names = vec![
        "agentnet-webhook.agentnet-system.svc".to_owned(),
        "127.0.0.1".to_owned(),
    ];
    let (chain, key) = issue_server(pool.signer(), &names, now).unwrap();
    assert!(key.contains("PRIVATE KEY"));
    let der = first_der(&chain).unwrap();
    let cert = webpki::EndEntityCert::try_from(&der).unwrap();
    for name in &names {
        let name = rustls::pki_types::ServerName::try_from(name.as_str()).unwrap();
        cert.verify_is_valid_for_subject_name(&name).unwrap();
    }
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
    let until = parsed.validity().not_after.to_datetime();
    assert!(
        (until - (now + Duration::days(7))).abs() < Duration::seconds(2),
        "{until}"
    );
}
