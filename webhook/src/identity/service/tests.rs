use std::collections::HashMap;

use axum::body::Body;
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use rcgen::{CertificateParams, DistinguishedName, KeyPair, SanType};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio::sync::watch;
use tower::ServiceExt;

use super::*;
use crate::identity::ca::CaPool;
use crate::identity::ca::rotate::initial;
use crate::identity::issue::verify;
use crate::identity::spiffe::ServiceAccountRef;
use crate::identity::token_review::Reviewed;

/// Tokens and what the API server would say about them.
struct FakeReviews(HashMap<&'static str, Result<Reviewed, AuthError>>);

impl Authenticator for FakeReviews {
    fn authenticate<'a>(&'a self, token: &'a Token) -> BoxFuture<'a, Result<Reviewed, AuthError>> {
        let known = self.0.iter().find(|(t, _)| Token::new(**t) == *token);
        let result = known.map_or(
            Err(AuthError::Rejected("unknown token".into())),
            |(_, r)| r.clone(),
        );
        Box::pin(async move { result })
    }
}

fn state(with_pool: bool) -> (CertifyState, Arc<Metrics>) {
    let now = OffsetDateTime::now_utc();
    let pool = with_pool.then(|| Arc::new(CaPool::from_data(&initial(now).unwrap(), now).unwrap()));
    // The receiver keeps the last value after the sender is gone.
    let (_, rx) = watch::channel(pool);
    let account = ServiceAccountRef::new("team", "a").unwrap();
    let reviews = FakeReviews(HashMap::from([
        ("token-a", Ok(Reviewed { account, pod: None })),
        (
            "token-down",
            Err(AuthError::Unavailable("connection refused".into())),
        ),
    ]));
    let metrics = Arc::new(Metrics::new());
    let state = CertifyState {
        pool: rx,
        auth: Arc::new(reviews),
        settings: Arc::new(Settings {
            trust_domain: "cluster.local".into(),
            default_lifetime: Duration::from_secs(3600),
            max_lifetime: Duration::from_secs(4 * 3600),
        }),
        metrics: metrics.clone(),
    };
    (state, metrics)
}

fn csr(sans: Vec<SanType>) -> String {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = sans;
    let key = KeyPair::generate().unwrap();
    params.serialize_request(&key).unwrap().pem().unwrap()
}

async fn post(state: CertifyState, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut request = http::Request::post(CERTIFY_PATH).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Body::from(body.to_string())).unwrap();
    let response = router(state).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn ders(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn issues_the_tokens_identity_chaining_to_the_bundle() {
    let (state, metrics) = state(true);
    let (status, body) = post(state, Some("token-a"), json!({"csr": csr(vec![])})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["spiffeId"], "spiffe://cluster.local/ns/team/sa/a");
    let chain = ders(body["certificateChain"].as_str().unwrap());
    let roots = ders(body["trustBundle"].as_str().unwrap());
    let now = OffsetDateTime::now_utc();
    verify(&chain[0], &chain[1..], &roots, now).unwrap();
    let not_after = body["notAfter"]
        .as_str()
        .unwrap()
        .parse::<k8s_openapi::jiff::Timestamp>()
        .unwrap();
    let hours = (not_after.as_second() - now.unix_timestamp()) as f64 / 3600.0;
    assert!(
        (0.99..=1.0).contains(&hours),
        "default lifetime 1 h, got {hours}"
    );
    let text = metrics.encode().unwrap();
    assert!(
        text.contains(r#"identity_certificates_issued_total{via="certify"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn requested_lifetime_is_capped_at_the_maximum() {
    let (state, _) = state(true);
    let body = json!({"csr": csr(vec![]), "lifetimeSeconds": 86400});
    let (status, body) = post(state, Some("token-a"), body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let not_after = body["notAfter"]
        .as_str()
        .unwrap()
        .parse::<k8s_openapi::jiff::Timestamp>()
        .unwrap();
    let hours =
        (not_after.as_second() - OffsetDateTime::now_utc().unix_timestamp()) as f64 / 3600.0;
    assert!((3.99..=4.0).contains(&hours), "capped at 4 h, got {hours}");
}

#[tokio::test]
async fn csr_for_another_identity_is_forbidden() {
    let (state, metrics) = state(true);
    let b = SanType::URI("spiffe://cluster.local/ns/team/sa/b".try_into().unwrap());
    let (status, body) = post(state, Some("token-a"), json!({"csr": csr(vec![b])})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "forbidden");
    assert!(body["message"].as_str().unwrap().contains("sa/b"), "{body}");
    let text = metrics.encode().unwrap();
    assert!(
        text.contains(r#"refused_total{via="certify",reason="forbidden"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn missing_or_rejected_tokens_are_unauthenticated() {
    for token in [None, Some("token-unknown")] {
        let (state, _) = state(true);
        let (status, body) = post(state, token, json!({"csr": csr(vec![])})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(body["error"], "unauthenticated");
    }
}

#[tokio::test]
async fn authentication_comes_before_looking_at_the_request() {
    let (state, _) = state(true);
    let (status, _) = post(state, Some("token-unknown"), json!({"csr": "garbage"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn malformed_requests_are_bad_requests() {
    for body in [
        json!({"csr": "not a csr"}),
        json!({"nothing": true}),
        json!({"csr": csr(vec![]), "lifetimeSeconds": 5}),
    ] {
        let (state, _) = state(true);
        let (status, reply) = post(state, Some("token-a"), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert_eq!(reply["error"], "bad_request");
    }
}

#[tokio::test]
async fn no_ca_or_no_token_review_is_unavailable() {
    let (state_without_ca, _) = state(false);
    let (status, body) = post(
        state_without_ca,
        Some("token-a"),
        json!({"csr": csr(vec![])}),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["message"].as_str().unwrap().contains("not loaded"),
        "{body}"
    );
    let (state, _) = state(true);
    let (status, _) = post(state, Some("token-down"), json!({"csr": csr(vec![])})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}
