//! The plain-HTTP listener: Prometheus `/metrics` and the kubelet's probes.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;

use crate::metrics::Metrics;

#[derive(Clone)]
struct AdminState {
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
}

/// `/metrics`, `/healthz` (alive) and `/readyz` (serving, and not shutting down, so
/// the Service stops sending reviews to a replica that is draining).
pub fn router(metrics: Arc<Metrics>, shutdown: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(AdminState { metrics, shutdown })
}

async fn metrics_text(State(state): State<AdminState>) -> impl IntoResponse {
    match state.metrics.encode() {
        Ok(text) => {
            let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], text).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn ready(State(state): State<AdminState>) -> impl IntoResponse {
    if *state.shutdown.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else {
        (StatusCode::OK, "ok")
    }
}

/// The loopback-only debug listener: `/debug/sidecars`, the sidecars connected to this
/// replica's policy service (identity, pod, view version, generation, last contact).
pub fn debug_router(sessions: Arc<crate::distribution::sessions::Sessions>) -> Router {
    Router::new()
        .route(
            "/debug/sidecars",
            get(
                |State(s): State<Arc<crate::distribution::sessions::Sessions>>| async move {
                    axum::Json(s.list())
                },
            ),
        )
        .with_state(sessions)
}
