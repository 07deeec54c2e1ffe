//! The handler with an in-process fake API server: the skip reason reaches the metric
//! and an Event, dry-run requests publish nothing, and an unreadable namespace fails
//! closed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use kube::runtime::events::Reporter;
use serde_json::{Value, json};

use super::*;

type Calls = Arc<Mutex<Vec<(Method, String)>>>;

/// A fake API server: namespace `agents` is opted in, `broken` fails, Events are created.
fn fake_client(calls: Calls) -> Client {
    let service = tower::service_fn(move |req: Request<Body>| {
        let calls = calls.clone();
        async move {
            let path = req.uri().path().to_owned();
            calls
                .lock()
                .unwrap()
                .push((req.method().clone(), path.clone()));
            let (status, body) = match (req.method(), path.as_str()) {
                (&Method::GET, "/api/v1/namespaces/agents") => (
                    StatusCode::OK,
                    json!({
                        "apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": "agents", "labels": {"agentnet.dev/inject": "enabled"}}
                    }),
                ),
                (&Method::POST, p) if p.ends_with("/events") => (
                    StatusCode::CREATED,
                    json!({
                        "apiVersion": "events.k8s.io/v1", "kind": "Event",
                        "metadata": {"name": "e", "namespace": "agents"}
                    }),
                ),
                _ => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({
                        "apiVersion": "v1", "kind": "Status", "status": "Failure",
                        "message": "etcd is on fire", "reason": "InternalError", "code": 500
                    }),
                ),
            };
            let response = Response::builder()
                .status(status)
                .body(Body::from(body.to_string().into_bytes()));
            Ok::<_, std::convert::Infallible>(response.unwrap())
        }
    });
    Client::new(service, "default")
}

fn state(calls: Calls) -> MutateState {
    let client = fake_client(calls);
    let reporter = Reporter {
        controller: "agentnet-webhook".into(),
        instance: None,
    };
    MutateState {
        config: Arc::new(MutateConfig::for_test()),
        namespaces: Api::all(client.clone()),
        recorder: Recorder::new(client, reporter),
        metrics: Arc::new(Metrics::new()),
    }
}

fn review(namespace: &str, dry_run: bool, host_network: bool) -> Bytes {
    review_with(namespace, dry_run, host_network, json!({}))
}

fn review_with(namespace: &str, dry_run: bool, host_network: bool, annotations: Value) -> Bytes {
    let review = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "7f0c6a44-0000-4000-8000-000000000001",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "agent", "namespace": namespace, "operation": "CREATE",
            "userInfo": {"username": "alice"}, "dryRun": dry_run,
            "object": {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "agent", "annotations": annotations},
                "spec": {"hostNetwork": host_network, "containers": [{"name": "app", "image": "a"}]}}
        }
    });
    Bytes::from(review.to_string())
}

async fn call(state: &MutateState, body: Bytes) -> Value {
    let Json(review) = mutate(State(state.clone()), body).await;
    serde_json::to_value(review).unwrap()["response"].clone()
}

fn event_posts(calls: &Calls) -> usize {
    let calls = calls.lock().unwrap();
    calls
        .iter()
        .filter(|(m, p)| m == Method::POST && p.ends_with("/events"))
        .count()
}

async fn until_event_posts(calls: &Calls, n: usize) {
    for _ in 0..200 {
        if event_posts(calls) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} Event creations, saw {}", event_posts(calls));
}

#[tokio::test]
async fn a_skipped_pod_gets_a_metric_and_an_event_but_a_dry_run_only_the_metric() {
    let calls = Calls::default();
    let state = state(calls.clone());
    let response = call(&state, review("agents", true, true)).await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("patch").is_none());
    // Positive control after the dry-run: its Event arrives, and it is the only one.
    call(&state, review("agents", false, true)).await;
    until_event_posts(&calls, 1).await;
    tokio::task::yield_now().await;
    assert_eq!(event_posts(&calls), 1, "the dry-run published nothing");
    let metrics = state.metrics.encode().unwrap();
    assert!(
        metrics.contains("agentnet_webhook_injection_skipped_total{reason=\"host_network\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_injected_pod_gets_a_patch_and_an_event() {
    let calls = Calls::default();
    let state = state(calls.clone());
    let response = call(&state, review("agents", false, false)).await;
    assert_eq!(response["allowed"], true);
    assert_eq!(response["patchType"], "JSONPatch");
    until_event_posts(&calls, 1).await;
    assert!(
        state
            .metrics
            .encode()
            .unwrap()
            .contains("agentnet_webhook_admissions_total{result=\"injected\"} 1")
    );
}

#[tokio::test]
async fn an_unreadable_namespace_refuses_the_pod() {
    let state = state(Calls::default());
    let response = call(&state, review("broken", false, false)).await;
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("agentnet: cannot read namespace broken to decide injection"),
        "{message}"
    );
}

#[tokio::test]
async fn garbage_is_answered_with_an_invalid_review() {
    let state = state(Calls::default());
    let response = call(&state, Bytes::from_static(b"{\"kind\":")).await;
    assert_eq!(response["allowed"], false);
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with("not an AdmissionReview of a Pod")
    );
}

#[tokio::test]
async fn an_unknown_agentnet_annotation_is_injected_with_a_warning_and_a_warning_event() {
    let calls = Calls::default();
    let state = state(calls.clone());
    let annotations = json!({"agentnet.dev/from-the-future": "on", "example.com/x": "y"});
    let response = call(
        &state,
        review_with("agents", false, false, annotations.clone()),
    )
    .await;
    assert_eq!(response["allowed"], true);
    assert_eq!(response["patchType"], "JSONPatch", "still injected");
    let warnings = response["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("unknown annotation agentnet.dev/from-the-future ignored")
    );
    // The injection's Event and the warning's.
    until_event_posts(&calls, 2).await;
    // A dry run warns too, and publishes nothing; a known annotation warns of nothing.
    let dry = call(&state, review_with("agents", true, false, annotations)).await;
    assert_eq!(dry["warnings"].as_array().map(Vec::len), Some(1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(event_posts(&calls), 2, "the dry run published nothing");
    let known = json!({"agentnet.dev/log-level": "debug"});
    let plain = call(&state, review_with("agents", true, false, known)).await;
    assert_eq!(plain["patchType"], "JSONPatch");
    assert!(plain.get("warnings").is_none_or(Value::is_null), "{plain}");
}
