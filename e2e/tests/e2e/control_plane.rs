//! The test control plane itself: the built release, Pod storage without a kubelet,
//! and real TokenRequest/TokenReview.

use agentnet_e2e::{TestNs, client};
use k8s_openapi::api::authentication::v1::{
    TokenRequest, TokenRequestSpec, TokenReview, TokenReviewSpec,
};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, ServiceAccount};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

const EXPECTED_VERSION: &str = "v1.37.2";

#[tokio::test]
async fn version_reports_the_built_release() {
    let info = client().await.unwrap().apiserver_version().await.unwrap();
    eprintln!(
        "kube-apiserver /version: {} ({})",
        info.git_version, info.go_version
    );
    assert_eq!(info.git_version, EXPECTED_VERSION);
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "37"));
}

#[tokio::test]
async fn pod_is_stored_pending_with_its_spec() {
    let ns = TestNs::new("e2e-pod").await.unwrap();
    ns.create_service_account("agent").await.unwrap();
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("agent".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            service_account_name: Some("agent".into()),
            containers: vec![Container {
                name: "app".into(),
                image: Some("example.com/agent:1.0".into()),
                args: Some(vec!["--serve".into()]),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    ns.api::<Pod>()
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();

    let stored = ns.api::<Pod>().get("agent").await.unwrap();
    let spec = stored.spec.unwrap();
    assert_eq!(spec.service_account_name.as_deref(), Some("agent"));
    assert_eq!(spec.containers.len(), 1);
    assert_eq!(
        spec.containers[0].image.as_deref(),
        Some("example.com/agent:1.0")
    );
    assert_eq!(spec.containers[0].args, Some(vec!["--serve".to_owned()]));
    assert_eq!(spec.node_name, None, "nothing schedules pods here");
    // The ServiceAccount admission plugin is on: it projects the API token volume.
    let volumes = spec.volumes.unwrap_or_default();
    assert!(
        volumes
            .iter()
            .any(|v| v.name.starts_with("kube-api-access-")),
        "{volumes:?}"
    );
    assert_eq!(
        stored.status.and_then(|s| s.phase).as_deref(),
        Some("Pending")
    );
}

async fn token_for(ns: &TestNs, sa: &str, audience: &str) -> String {
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: Some(vec![audience.into()]),
            expiration_seconds: Some(600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let api: Api<ServiceAccount> = ns.api();
    api.create_token_request(sa, &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .expect("TokenRequest returns a status")
        .token
        .expect("TokenRequest returns a token")
}

async fn review(
    token: String,
    audience: &str,
) -> k8s_openapi::api::authentication::v1::TokenReviewStatus {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token,
            audiences: Some(vec![audience.into()]),
        },
        ..Default::default()
    };
    let api: Api<TokenReview> = Api::all(client().await.unwrap());
    api.create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .expect("TokenReview status")
}

#[tokio::test]
async fn token_review_authenticates_an_agentnet_token() {
    let ns = TestNs::new("e2e-token").await.unwrap();
    ns.create_service_account("agent").await.unwrap();
    let status = review(token_for(&ns, "agent", "agentnet").await, "agentnet").await;
    assert_eq!(status.authenticated, Some(true), "{status:?}");
    let user = status.user.unwrap();
    assert_eq!(
        user.username.unwrap(),
        format!("system:serviceaccount:{}:agent", ns.name)
    );
    assert_eq!(status.audiences, Some(vec!["agentnet".to_owned()]));
}

#[tokio::test]
async fn token_review_rejects_a_token_for_another_audience() {
    let ns = TestNs::new("e2e-token-aud").await.unwrap();
    ns.create_service_account("agent").await.unwrap();
    let status = review(
        token_for(&ns, "agent", "some-other-service").await,
        "agentnet",
    )
    .await;
    assert_ne!(status.authenticated, Some(true), "{status:?}");
    assert!(status.user.and_then(|u| u.username).is_none());
    let error = status.error.unwrap_or_default();
    assert!(error.contains("audience"), "unexpected error: {error}");
}
