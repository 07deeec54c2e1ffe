//! `GET /v1/policy/view`: the projected token is reviewed before anything else (401),
//! an `identity` parameter naming anyone else is refused (403), and before the first
//! cut the answer is 503. Then the stream: the caller's view, again whenever it
//! changes, and a heartbeat every `heartbeat` in between. A change elsewhere in the
//! cluster that leaves this caller's view as it was sends nothing but heartbeats.
//!
//! `POST /v1/policy/ack`: what the sidecar did with a view, named by the session id
//! the stream's answer carried (`SESSION_HEADER`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use agentnet_api::contract::identity::error as code;
use agentnet_api::contract::policy::{
    ACK_PATH, Ack, CONTENT_TYPE, IDENTITY_PARAM, SESSION_HEADER, VIEW_PATH,
};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::stream;

use super::ServiceState;
use super::cut::Cut;
use super::sessions::Registration;
use crate::identity::service::{Refusal, bearer};

pub fn router(state: ServiceState) -> Router {
    Router::new()
        .route(VIEW_PATH, get(view_stream))
        .route(ACK_PATH, post(ack))
        .with_state(state)
}

/// An acknowledgement is a few hundred bytes.
const MAX_ACK_BYTES: usize = 16 * 1024;

async fn ack(State(state): State<ServiceState>, body: Bytes) -> Response {
    if body.len() > MAX_ACK_BYTES {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let ack: Ack = match serde_json::from_slice(&body) {
        Ok(ack) => ack,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("not an acknowledgement: {e}"),
            )
                .into_response();
        }
    };
    match state.sessions.ack(&ack) {
        Ok(()) => {
            let result = if ack.applied { "applied" } else { "rejected" };
            if let Some(error) = &ack.error {
                tracing::warn!(version = %ack.version, %error, "a sidecar refused its policy view");
            }
            state.metrics.policy_view_ack(result);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            state.metrics.policy_view_ack("unknown_session");
            (StatusCode::NOT_FOUND, e.to_string()).into_response()
        }
    }
}

/// The authenticated caller.
struct Caller {
    spiffe_id: String,
    namespace: String,
    pod: Option<String>,
}

async fn view_stream(
    State(state): State<ServiceState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match admit(&state, &headers, &params).await {
        Ok(caller) => {
            tracing::info!(spiffe.id = %caller.spiffe_id, pod = caller.pod.as_deref(), "policy stream opened");
            streaming(state, caller)
        }
        Err(refusal) => {
            tracing::info!(
                reason = refusal.code,
                spiffe.id = refusal.spiffe_id.as_deref(),
                error = %refusal.message,
                "policy stream refused"
            );
            state.metrics.policy_stream_refused(refusal.code);
            refusal.into_response()
        }
    }
}

async fn admit(
    state: &ServiceState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Caller, Refusal> {
    let token = bearer(headers)?;
    let reviewed = state
        .auth
        .authenticate(&token)
        .await
        .map_err(Refusal::from)?;
    let spiffe_id = reviewed.account.spiffe_id(&state.trust_domain);
    if let Some(asked) = params.get(IDENTITY_PARAM)
        && *asked != spiffe_id
    {
        let mut refusal = Refusal::new(
            code::FORBIDDEN,
            format!("the token authenticates {spiffe_id}; it cannot read the view of {asked}"),
        );
        refusal.spiffe_id = Some(spiffe_id);
        return Err(refusal);
    }
    if state.cut.borrow().is_none() {
        return Err(Refusal::new(
            code::UNAVAILABLE,
            "the policy service has not synced with the API server yet",
        ));
    }
    Ok(Caller {
        spiffe_id,
        namespace: reviewed.account.namespace,
        pod: reviewed.pod,
    })
}

/// Where the stream is between two lines.
struct Cursor {
    state: ServiceState,
    caller: Caller,
    registration: Registration,
    /// The version last sent (`None`: nothing yet, the next line is a view).
    sent: Option<String>,
    _open: OpenStream,
}

fn streaming(state: ServiceState, caller: Caller) -> Response {
    let registration =
        state
            .sessions
            .register(&caller.spiffe_id, &caller.namespace, caller.pod.as_deref());
    let session = registration.id.clone();
    let cursor = Cursor {
        _open: OpenStream::new(state.metrics.clone()),
        state,
        caller,
        registration,
        sent: None,
    };
    let lines = stream::unfold(cursor, |mut c| async move {
        let line = c.next_line().await?;
        Some((Ok::<_, Infallible>(line), c))
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::HeaderName::from_static(SESSION_HEADER),
                session.as_str(),
            ),
        ],
        Body::from_stream(lines),
    )
        .into_response()
}

// === impl Cursor ===

impl Cursor {
    /// The next line: the view if it differs from the one sent, else (after waiting
    /// for a change or the heartbeat interval) a view or a heartbeat. `None` ends the
    /// stream: the replica is stopping, and the sidecar reconnects to another.
    async fn next_line(&mut self) -> Option<Bytes> {
        let mut cuts = self.state.cut.clone();
        let mut stopped = self.state.stopped.clone();
        let deadline = tokio::time::Instant::now() + self.state.heartbeat;
        loop {
            let cut = cuts.borrow_and_update().clone();
            if let Some(cut) = cut {
                let caller = cut.caller(
                    &self.caller.spiffe_id,
                    &self.caller.namespace,
                    self.caller.pod.as_deref(),
                );
                let rendered = cut.render(&caller);
                if self.sent.as_deref() != Some(rendered.version.as_str()) {
                    self.sent = Some(rendered.version.clone());
                    self.registration.sent_view(
                        &rendered.version,
                        cut.generation,
                        rendered.applies.clone(),
                    );
                    self.state.metrics.policy_view_sent();
                    return Some(rendered.line.clone());
                }
                self.registration.current_at(cut.generation);
                if tokio::time::Instant::now() >= deadline {
                    return Some(self.heartbeat(&cut, &rendered.version));
                }
            }
            tokio::select! {
                changed = cuts.changed() => if changed.is_err() { return None },
                () = tokio::time::sleep_until(deadline) => {}
                Ok(_) = stopped.wait_for(|stop| *stop) => return None,
            }
        }
    }

    fn heartbeat(&self, cut: &Cut, version: &str) -> Bytes {
        self.registration.sent_heartbeat(cut.generation);
        Bytes::from(format!(
            "{{\"type\":\"heartbeat\",\"version\":\"{version}\",\"generation\":{}}}\n",
            cut.generation
        ))
    }
}

/// Counts open streams in the metrics for as long as it lives.
struct OpenStream(Arc<crate::metrics::Metrics>);

impl OpenStream {
    fn new(metrics: Arc<crate::metrics::Metrics>) -> Self {
        metrics.policy_streams(1);
        Self(metrics)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.policy_streams(-1);
    }
}
