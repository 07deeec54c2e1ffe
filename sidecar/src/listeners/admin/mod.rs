//! The admin listener (127.0.0.1:15000 by default): `/live`, `/ready`, `/metrics`
//! (Prometheus), `/config`, `/explain` and `/identity` (the workload certificate in
//! use: SPIFFE ID, serial, validity; never the key).

pub mod client;
mod view;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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
    Router::new()
        .route("/live", get(|| async { "live\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/config", get(config))
        .route("/explain", get(explain))
        .route("/identity", get(identity))
        .with_state(admin)
}

async fn ready(State(admin): State<Admin>) -> Response {
    match admin.ready.check() {
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
