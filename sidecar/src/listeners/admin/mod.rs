//! The admin listener (127.0.0.1:15000 by default; in a pod on every address, for the
//! kubelet's probes and Prometheus): `/live`, `/ready` and `/metrics` answer anyone;
//! `/config`, `/explain` and `/identity` (the workload certificate in use: SPIFFE ID,
//! serial, validity; never the key) answer only loopback, i.e. `kubectl exec` into the
//! pod, never another pod or node: they describe the policy and the identity.

pub mod client;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use serde_json::Value;

use crate::explain::{self, ExplainQuery};
use crate::identity::{LocalIdentity, Workload};
use crate::metrics::Metrics;
use crate::policy_source::PolicyState;
use crate::ready::Ready;

#[derive(Clone, Debug)]
pub struct Admin {
    pub policy: Arc<PolicyState>,
    pub metrics: Arc<Metrics>,
    pub ready: Arc<Ready>,
    pub identity: LocalIdentity,
    /// The running configuration, as `/config` shows it.
    pub config: Arc<Value>,
    /// The workload certificate, when the sidecar has a certificate source.
    pub workload: Option<Arc<Workload>>,
}

pub fn router(admin: Admin) -> Router {
    let local_only = Router::new()
        .route("/config", get(config))
        .route("/explain", get(explain))
        .route("/identity", get(identity))
        .route_layer(middleware::from_fn(loopback_only));
    Router::new()
        .route("/live", get(|| async { "live\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .merge(local_only)
        .with_state(admin)
}

/// Refuses a request that did not come from this host (this pod's network namespace).
async fn loopback_only(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    if peer.ip().to_canonical().is_loopback() {
        return next.run(req).await;
    }
    let why = "this endpoint answers only from the pod itself: kubectl exec POD -c agentnet-sidecar -- agentnet-sidecar status|explain\n";
    (StatusCode::FORBIDDEN, why).into_response()
}

async fn ready(State(admin): State<Admin>) -> Response {
    match admin.ready.check() {
        // Still ready: the last good policy is enforced; the detail says how old it is.
        Ok(()) if admin.policy.is_stale() => {
            let age = admin.policy.confirmed_age().unwrap_or_default().as_secs();
            format!("ready (policy stale: last confirmed {age}s ago)\n").into_response()
        }
        Ok(()) => "ready\n".into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

async fn metrics(State(admin): State<Admin>) -> Response {
    match admin.metrics.encode(&admin.policy) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn config(State(admin): State<Admin>) -> Response {
    axum::Json(view::config(
        &admin.config,
        &admin.identity.label(),
        &admin.policy,
    ))
    .into_response()
}

/// 404 without a certificate source; 503 until the first certificate; else 200.
async fn identity(State(admin): State<Admin>) -> Response {
    let Some(workload) = &admin.workload else {
        let why =
            "no workload certificate: neither --identity-url nor --pod-certificate-file is set\n";
        return (StatusCode::NOT_FOUND, why).into_response();
    };
    let view = workload.view();
    let status = match view["certificate"].is_null() {
        true => StatusCode::SERVICE_UNAVAILABLE,
        false => StatusCode::OK,
    };
    (status, axum::Json(view)).into_response()
}

/// Text by default; JSON when the client accepts `application/json`.
async fn explain(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(query): Query<ExplainQuery>,
) -> Response {
    if !admin.policy.is_synced() {
        return (StatusCode::SERVICE_UNAVAILABLE, "policy not synced yet\n").into_response();
    }
    let index = admin.policy.load();
    let request = match explain::request(&index, &query, admin.identity.source()) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let explanation = index.explain(&request);
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    match wants_json {
        true => axum::Json(explain::to_json(&explanation)).into_response(),
        false => format!("{explanation}\n").into_response(),
    }
}

#[cfg(test)]
mod tests;
