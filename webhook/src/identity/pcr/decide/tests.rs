use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::PodCertificateRequestSpec;
use kube::api::ObjectMeta;
use rcgen::{CertificateParams, DistinguishedName, KeyPair, PKCS_ECDSA_P384_SHA384, SanType};
use x509_parser::extensions::GeneralName;

use super::*;
use crate::identity::ca::rotate::initial;
use crate::identity::issue::{first_der, verify};

fn settings() -> Settings {
    Settings {
        trust_domain: "cluster.local".into(),
        default_lifetime: StdDuration::from_secs(3600),
        max_lifetime: StdDuration::from_secs(86400),
    }
}

fn pool(now: OffsetDateTime) -> CaPool {
    CaPool::from_data(&initial(now).unwrap(), now).unwrap()
}

/// A stub CSR as the kubelet makes it: empty, signed by `key`.
fn stub(key: &KeyPair, sans: Vec<SanType>) -> Vec<u8> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = sans;
    params.serialize_request(key).unwrap().der().to_vec()
}

fn pcr(csr: Vec<u8>, max_expiration: Option<i32>) -> PodCertificateRequest {
    PodCertificateRequest {
        metadata: ObjectMeta {
            name: Some("agent-abc".into()),
            namespace: Some("team".into()),
            generation: Some(1),
            ..ObjectMeta::default()
        },
        spec: PodCertificateRequestSpec {
            signer_name: SIGNER_NAME.into(),
            service_account_name: "agent".into(),
            max_expiration_seconds: max_expiration,
            stub_pkc_s10_request: ByteString(csr),
            ..PodCertificateRequestSpec::default()
        },
        status: None,
    }
}

#[test]
fn issues_the_service_accounts_svid_refreshing_half_way() {
    let (now, key) = (OffsetDateTime::now_utc(), KeyPair::generate().unwrap());
    let pool = pool(now);
    let request = pcr(stub(&key, vec![]), Some(7200));
    let Outcome::Issued {
        leaf,
        spiffe_id,
        begin_refresh_at,
    } = decide(&request, &pool, &settings(), now)
    else {
        panic!("not issued");
    };
    assert_eq!(spiffe_id, "spiffe://cluster.local/ns/team/sa/agent");
    assert_eq!(leaf.not_after - leaf.not_before, Duration::hours(2));
    assert_eq!(begin_refresh_at, leaf.not_before + Duration::hours(1));
    let der = first_der(&leaf.chain_pem).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap().value;
    assert_eq!(san.general_names, vec![GeneralName::URI(&spiffe_id)]);
    assert_eq!(
        cert.public_key().subject_public_key.data,
        key.public_key_raw()
    );
    verify(&der, &[], pool.roots(), now).unwrap();

    let status = status_for(
        &Outcome::Issued {
            leaf: leaf.clone(),
            spiffe_id,
            begin_refresh_at,
        },
        now,
        Some(1),
    );
    let condition = &status.conditions.unwrap()[0];
    assert_eq!(
        (condition.type_.as_str(), condition.status.as_str()),
        ("Issued", "True")
    );
    assert_eq!(
        status.not_after.unwrap().0.as_second(),
        leaf.not_after.unix_timestamp()
    );
}

#[test]
fn lifetime_stays_within_an_hour_and_the_maximum() {
    let now = OffsetDateTime::now_utc();
    let s = settings();
    assert_eq!(validity(Some(3600), &s, now).lifetime(), Duration::hours(1));
    assert_eq!(validity(None, &s, now).lifetime(), Duration::hours(24));
    assert_eq!(
        validity(Some(7_862_400), &s, now).lifetime(),
        Duration::hours(24)
    );
    let short = Settings {
        max_lifetime: StdDuration::from_secs(120),
        ..settings()
    };
    assert_eq!(
        validity(Some(3600), &short, now).lifetime(),
        Duration::hours(1),
        "the API's floor"
    );
}

#[test]
fn refuses_other_keys_annotations_and_identities() {
    let now = OffsetDateTime::now_utc();
    let pool = pool(now);
    let p384 = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
    let reason = |request: &PodCertificateRequest| match decide(request, &pool, &settings(), now) {
        Outcome::Denied { reason, .. } => reason,
        other => panic!("not denied: {other:?}"),
    };
    assert_eq!(
        reason(&pcr(stub(&p384, vec![]), None)),
        "UnsupportedKeyType"
    );
    let key = KeyPair::generate().unwrap();
    let mut annotated = pcr(stub(&key, vec![]), None);
    annotated.spec.unverified_user_annotations =
        Some(BTreeMap::from([("x.dev/a".into(), "b".into())]));
    assert_eq!(reason(&annotated), "UnrecognizedUserAnnotation");
    let other = SanType::URI(
        "spiffe://cluster.local/ns/team/sa/admin"
            .try_into()
            .unwrap(),
    );
    assert_eq!(
        reason(&pcr(stub(&key, vec![other]), None)),
        "IdentityMismatch"
    );
    assert_eq!(reason(&pcr(b"not a csr".to_vec(), None)), "InvalidRequest");
}

#[test]
fn issued_denied_and_failed_requests_are_final() {
    let now = OffsetDateTime::now_utc();
    let mut request = pcr(Vec::new(), None);
    assert!(!is_final(&request));
    for outcome in [
        Outcome::Denied {
            reason: "X",
            message: "m".into(),
        },
        Outcome::Failed {
            reason: "Y",
            message: "m".into(),
        },
    ] {
        request.status = Some(status_for(&outcome, now, None));
        assert!(is_final(&request), "{outcome:?}");
    }
}
