use std::time::Duration as StdDuration;

use rcgen::KeyPair;

use super::*;
use crate::identity::issue::{Validity, first_der, issue_svid, verify};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A leaf from `data`'s signer, as DER.
fn leaf(data: &SecretData) -> rustls::pki_types::CertificateDer<'static> {
    let pool = CaPool::from_data(data, now()).unwrap();
    let validity =
        Validity::capped(now(), StdDuration::from_secs(3600), pool.signer().not_after).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = issue_svid(pool.signer(), &key, "spiffe://td/ns/a/sa/b", validity).unwrap();
    first_der(&leaf.chain_pem).unwrap()
}

fn verifies(leaf: &rustls::pki_types::CertificateDer<'_>, data: &SecretData) -> bool {
    let pool = CaPool::from_data(data, now()).unwrap();
    verify(leaf, &[], pool.roots(), now()).is_ok()
}

fn signer(data: &SecretData) -> String {
    String::from_utf8(data[SIGNER].clone()).unwrap()
}

#[test]
fn rotation_keeps_old_and_new_leaves_valid_until_the_old_root_goes() {
    let start = initial(now()).unwrap();
    let old_id = signer(&start);
    let old_leaf = leaf(&start);

    let (added, new_id) = add_root(&start, Some("next"), now()).unwrap();
    assert_eq!(
        signer(&added),
        old_id,
        "adding a root does not switch the signer"
    );
    assert_eq!(CaPool::from_data(&added, now()).unwrap().roots().len(), 2);
    assert!(verifies(&old_leaf, &added));

    let switched = use_signer(&added, &new_id, now()).unwrap();
    let new_leaf = leaf(&switched);
    assert!(verifies(&old_leaf, &switched), "old leaves still verify");
    assert!(verifies(&new_leaf, &switched), "new leaves verify");
    assert!(
        !verifies(&new_leaf, &start),
        "new leaves come from the new root"
    );

    let removed = remove_root(&switched, &old_id, now()).unwrap();
    assert_eq!(CaPool::from_data(&removed, now()).unwrap().roots().len(), 1);
    assert!(
        !verifies(&old_leaf, &removed),
        "the old root is no longer trusted"
    );
    assert!(verifies(&new_leaf, &removed));
}

#[test]
fn the_signer_cannot_be_removed() {
    let start = initial(now()).unwrap();
    let id = signer(&start);
    assert_eq!(
        remove_root(&start, &id, now()).unwrap_err(),
        CaError::RemovingSigner(id)
    );
}

#[test]
fn ids_are_checked_and_unique() {
    let start = initial(now()).unwrap();
    for bad in ["", "Root", "a.b", "signer", &"a".repeat(51)] {
        assert_eq!(
            add_root(&start, Some(bad), now()).unwrap_err(),
            CaError::BadId(bad.into())
        );
    }
    let (added, id) = add_root(&start, Some("two"), now()).unwrap();
    assert_eq!(
        add_root(&added, Some(&id), now()).unwrap_err(),
        CaError::Exists(id)
    );
    assert_eq!(
        use_signer(&start, "missing", now()).unwrap_err(),
        CaError::UnknownSigner("missing".into())
    );
}

#[test]
fn summaries_list_every_ca_and_the_signer() {
    let start = initial(now()).unwrap();
    let (added, id) = add_root(&start, Some("two"), now()).unwrap();
    let list = summaries(&added);
    assert_eq!(list.len(), 2);
    let two = list.iter().find(|s| s.id == id).unwrap();
    assert!(!two.signer && two.has_key);
    assert!(
        two.subject.contains("agentnet identity two"),
        "{}",
        two.subject
    );
    assert!(list.iter().any(|s| s.signer && s.id == signer(&start)));
}
