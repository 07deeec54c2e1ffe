use super::*;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn names() -> Vec<String> {
    vec![
        "agentnet-webhook.agentnet-system.svc".into(),
        "127.0.0.1".into(),
    ]
}

#[test]
fn serving_certificate_carries_dns_and_ip_names_and_expires_within_the_ca() {
    let now = now();
    let ca = new_ca(now).unwrap();
    let serving = issue_serving(&ca, &names(), now).unwrap();
    let info = inspect(&serving.cert_pem).unwrap();
    assert_eq!(info.names, names().into_iter().collect());
    let days = (info.not_after - now).whole_days();
    assert!((364..=365).contains(&days), "{days}");
    assert!(info.not_after <= inspect(&ca.cert_pem).unwrap().not_after);
}

#[test]
fn ca_is_long_lived() {
    let now = now();
    let info = inspect(&new_ca(now).unwrap().cert_pem).unwrap();
    assert!((info.not_after - now).whole_days() >= 3649);
}

#[test]
fn reissue_when_expiring_or_missing_a_name() {
    let now = now();
    let ca = new_ca(now).unwrap();
    let info = inspect(&issue_serving(&ca, &names(), now).unwrap().cert_pem).unwrap();
    assert!(!needs_reissue(&info, &names(), now));
    assert!(
        needs_reissue(&info, &["other.svc".into()], now),
        "a new name needs a new certificate"
    );
    assert!(
        needs_reissue(&info, &names(), now + Duration::days(340)),
        "30 days before expiry"
    );
    assert!(!needs_reissue(&info, &names(), now + Duration::days(330)));
}

#[test]
fn ipv6_names_compare_canonically() {
    let now = now();
    let ca = new_ca(now).unwrap();
    let info = inspect(&issue_serving(&ca, &["::1".into()], now).unwrap().cert_pem).unwrap();
    assert!(!needs_reissue(&info, &["0:0:0:0:0:0:0:1".into()], now));
}

#[test]
fn garbage_is_a_parse_error_and_keys_are_redacted_in_debug() {
    assert!(matches!(inspect("not pem"), Err(IssueError::Parse(_))));
    let ca = new_ca(now()).unwrap();
    let debug = format!("{ca:?}");
    assert!(
        debug.contains("<redacted>") && !debug.contains("PRIVATE KEY"),
        "{debug}"
    );
}
