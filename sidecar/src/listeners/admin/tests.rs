use std::net::SocketAddr;

use agentnet_policy::{Settings, Source};
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::Request;
use tower::ServiceExt;

use super::*;

fn admin() -> Admin {
    let policy = PolicyState::new(&Settings::default());
    Admin {
        ready: Arc::new(Ready::new(policy.clone())),
        policy,
        metrics: Arc::new(Metrics::new()),
        identity: LocalIdentity::new(Source::anonymous(), None),
        config: Arc::new(serde_json::json!({"redis": "redis://***@cache:6379"})),
        workload: None,
    }
}

async fn status(path: &str, from: &str) -> StatusCode {
    let peer: SocketAddr = from.parse().unwrap();
    let mut req = Request::get(path).body(Body::empty()).unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    router(admin()).oneshot(req).await.unwrap().status()
}

#[tokio::test]
async fn diagnostics_answer_only_loopback_and_probes_answer_anyone() {
    for path in ["/config", "/explain?backend=a/b", "/identity"] {
        assert_eq!(
            status(path, "10.244.0.9:40000").await,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(
            status(path, "[fd00::9]:40000").await,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_ne!(
            status(path, "127.0.0.1:40000").await,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_ne!(
            status(path, "[::ffff:127.0.0.1]:40000").await,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    for path in ["/live", "/metrics"] {
        assert_eq!(
            status(path, "10.244.0.9:40000").await,
            StatusCode::OK,
            "{path}"
        );
    }
    // Not ready (never synced), but answered: the kubelet probes it from the node.
    assert_eq!(
        status("/ready", "10.244.0.9:40000").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}
