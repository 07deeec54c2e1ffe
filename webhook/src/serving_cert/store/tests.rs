use time::Duration;

use super::*;

fn names() -> Vec<String> {
    vec!["agentnet-webhook.agentnet-system.svc".into()]
}

#[test]
fn nothing_stored_means_a_new_ca_and_certificate() {
    let now = OffsetDateTime::now_utc();
    let pair = plan(None, &names(), now).unwrap().unwrap();
    let info = issue::inspect(&pair.serving.cert_pem).unwrap();
    assert!(info.names.contains("agentnet-webhook.agentnet-system.svc"));
}

#[test]
fn a_valid_pair_is_kept() {
    let now = OffsetDateTime::now_utc();
    let pair = plan(None, &names(), now).unwrap().unwrap();
    assert_eq!(plan(Some(&pair), &names(), now).unwrap(), None);
}

#[test]
fn a_new_name_reissues_the_certificate_from_the_same_ca() {
    let now = OffsetDateTime::now_utc();
    let pair = plan(None, &names(), now).unwrap().unwrap();
    let more = vec![names()[0].clone(), "127.0.0.1".into()];
    let next = plan(Some(&pair), &more, now).unwrap().unwrap();
    assert_eq!(next.ca, pair.ca, "the CA, and so every caBundle, stays");
    assert_ne!(next.serving, pair.serving);
    assert!(
        issue::inspect(&next.serving.cert_pem)
            .unwrap()
            .names
            .contains("127.0.0.1")
    );
}

#[test]
fn an_expiring_certificate_is_reissued_and_an_expiring_ca_replaced() {
    let now = OffsetDateTime::now_utc();
    let pair = plan(None, &names(), now).unwrap().unwrap();
    let later = now + Duration::days(340);
    let next = plan(Some(&pair), &names(), later).unwrap().unwrap();
    assert_eq!(next.ca, pair.ca);
    let much_later = now + Duration::days(3640);
    let replaced = plan(Some(&pair), &names(), much_later).unwrap().unwrap();
    assert_ne!(replaced.ca, pair.ca);
}

#[test]
fn secrets_round_trip_and_incomplete_ones_are_reported() {
    let pair = plan(None, &names(), OffsetDateTime::now_utc())
        .unwrap()
        .unwrap();
    let secret = encode("tls", &pair, Some("7".into()));
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(secret.metadata.resource_version.as_deref(), Some("7"));
    assert_eq!(decode("tls", &secret).unwrap(), pair);
    let mut partial = secret.clone();
    partial.data.as_mut().unwrap().remove(CA_KEY);
    assert!(matches!(
        decode("tls", &partial),
        Err(StoreError::Missing(_, CA_KEY))
    ));
}
