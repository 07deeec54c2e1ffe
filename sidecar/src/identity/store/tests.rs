use std::time::SystemTime;

use super::*;
use crate::identity::testing::{Ca, ID_A, ID_B, unix};

fn validate(
    (chain, key): (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    roots: &Roots,
) -> Result<Svid, SvidError> {
    Svid::validate(chain, key, ID_A, roots, SystemTime::now())
}

#[test]
fn accepts_a_chained_svid_for_the_expected_identity() {
    let ca = Ca::new();
    let svid = validate(ca.leaf(&[ID_A]), &ca.roots()).unwrap();
    assert_eq!(svid.spiffe_id(), ID_A);
    assert_eq!(svid.serial().len() % 2, 0);
    assert!(svid.not_after() > SystemTime::now());
    assert!(!format!("{svid:?}").contains("PRIVATE"));
}

#[test]
fn rejects_another_identity_or_extra_sans() {
    let ca = Ca::new();
    let e = validate(ca.leaf(&[ID_B]), &ca.roots()).unwrap_err();
    assert!(matches!(e, SvidError::Identity { .. }), "{e}");
    let e = validate(ca.leaf(&[ID_A, ID_B]), &ca.roots()).unwrap_err();
    assert!(matches!(e, SvidError::UriCount(2)), "{e}");
}

#[test]
fn rejects_expired_and_not_yet_valid_certificates() {
    let ca = Ca::new();
    let now = unix(SystemTime::now());
    let e = validate(ca.leaf_valid(&[ID_A], (now - 7200, now - 60)), &ca.roots()).unwrap_err();
    assert!(matches!(e, SvidError::Time { .. }), "{e}");
    let e = validate(ca.leaf_valid(&[ID_A], (now + 600, now + 7200)), &ca.roots()).unwrap_err();
    assert!(matches!(e, SvidError::Time { .. }), "{e}");
}

#[test]
fn rejects_a_chain_from_another_ca() {
    let (ca, other) = (Ca::new(), Ca::new());
    let e = validate(other.leaf(&[ID_A]), &ca.roots()).unwrap_err();
    assert!(
        matches!(e, SvidError::Chain(webpki::Error::UnknownIssuer)),
        "{e}"
    );
}

#[test]
fn rejects_a_key_that_is_not_the_leafs() {
    let ca = Ca::new();
    let (chain, _) = ca.leaf(&[ID_A]);
    let (_, other_key) = ca.leaf(&[ID_A]);
    let e = validate((chain, other_key), &ca.roots()).unwrap_err();
    assert!(matches!(e, SvidError::KeyMismatch(_)), "{e}");
}

#[test]
fn publishing_swaps_key_and_chain_together() {
    let ca = Ca::new();
    let store = CertStore::new();
    let resolver = Resolver(store.clone());
    assert!(!resolver.has_certs() && store.current().is_none());
    let first = validate(ca.leaf(&[ID_A]), &ca.roots()).unwrap();
    let first_serial = first.serial().to_owned();
    store.publish(first);
    let held = ResolvesClientCert::resolve(&resolver, &[], &[]).unwrap();
    store.publish(validate(ca.leaf(&[ID_A]), &ca.roots()).unwrap());
    let now = ResolvesClientCert::resolve(&resolver, &[], &[]).unwrap();
    assert!(held.keys_match().is_ok() && now.keys_match().is_ok());
    assert_ne!(held.cert[0], now.cert[0]);
    assert_ne!(store.current().unwrap().serial(), first_serial);
    assert_eq!(store.publishes(), 2);
}
