//! `POST /v1/certify`: a sidecar's CSR and projected token in, its X.509-SVID, chain
//! and trust bundle out (the protocol is in `agentnet_api::contract::identity` and
//! docs/identity.md).
//!
//! Order of checks: the CA must be loaded (503), the token must authenticate a
//! ServiceAccount for audience `agentnet` (401) before anything else about the request
//! is looked at, then the body and CSR must parse (400), and the CSR may ask for
//! nothing beyond the token's SPIFFE ID (403).

use std::sync::Arc;
use std::time::Duration;

use agentnet_api::contract::identity::{CERTIFY_PATH, MIN_LIFETIME_SECONDS, error as code};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ca::CaPool;
use super::csr::Csr;
use super::issue::{IssueError, Leaf, Validity, issue_svid};
use super::token_review::{AuthError, Authenticator, Token};
use super::{PoolRx, Settings};
use crate::metrics::Metrics;

/// A CSR and a JSON envelope fit in far less.
const MAX_BODY: usize = 64 * 1024;

#[derive(Clone)]
pub struct CertifyState {
    pub pool: PoolRx,
    pub auth: Arc<dyn Authenticator>,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertifyRequest {
    pub csr: String,
    #[serde(default)]
    pub lifetime_seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertifyResponse {
    pub spiffe_id: String,
    pub certificate_chain: String,
    pub trust_bundle: String,
    pub not_before: String,
    pub not_after: String,
}

/// A refused request: its status, error code and message.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The caller, once authenticated.
    pub spiffe_id: Option<String>,
}

pub fn router(state: CertifyState) -> Router {
    Router::new()
        .route(CERTIFY_PATH, post(certify))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn certify(State(state): State<CertifyState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(response) => (StatusCode::OK, Json(response)).into_response(),
        Err(refusal) => {
            tracing::info!(
                reason = refusal.code,
                spiffe.id = refusal.spiffe_id.as_deref(),
                error = %refusal.message,
                "certificate refused"
            );
            state.metrics.identity_refused("certify", refusal.code);
            refusal.into_response()
        }
    }
}

async fn handle(
    state: &CertifyState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<CertifyResponse, Refusal> {
    let Some(pool) = state.pool.borrow().clone() else {
        return Err(Refusal::new(
            code::UNAVAILABLE,
            "the identity CA is not loaded yet",
        ));
    };
    let token = bearer(headers)?;
    let account = state.auth.authenticate(&token).await;
    let account = account.map_err(Refusal::from)?.account;
    let spiffe_id = account.spiffe_id(&state.settings.trust_domain);
    let leaf =
        certify_for(&state.settings, &pool, &spiffe_id, body).map_err(|r| r.caller(&spiffe_id))?;
    state.metrics.identity_issued("certify");
    log_issued("certify", &spiffe_id, &leaf);
    Ok(CertifyResponse {
        spiffe_id,
        certificate_chain: leaf.chain_pem,
        trust_bundle: pool.trust_bundle().to_owned(),
        not_before: rfc3339(leaf.not_before),
        not_after: rfc3339(leaf.not_after),
    })
}

pub(crate) fn bearer(headers: &HeaderMap) -> Result<Token, Refusal> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(Token::from_authorization)
        .ok_or_else(|| Refusal::new(code::UNAUTHENTICATED, "no Authorization: Bearer token"))
}

/// The request of an authenticated caller whose SPIFFE ID is `spiffe_id`.
fn certify_for(
    settings: &Settings,
    pool: &CaPool,
    spiffe_id: &str,
    body: &[u8],
) -> Result<Leaf, Refusal> {
    let bad = |message: String| Refusal::new(code::BAD_REQUEST, message);
    let request: CertifyRequest =
        serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))?;
    let lifetime = settings.lifetime(request.lifetime_seconds)?;
    let csr = Csr::from_pem(&request.csr).map_err(|e| bad(e.to_string()))?;
    csr.check_requests_only(spiffe_id)
        .map_err(|e| Refusal::new(code::FORBIDDEN, e.to_string()))?;
    let signer = pool.signer();
    let unavailable = |e: IssueError| Refusal::new(code::UNAVAILABLE, e.to_string());
    let validity = Validity::capped(OffsetDateTime::now_utc(), lifetime, signer.not_after)
        .map_err(unavailable)?;
    issue_svid(signer, &csr.public_key, spiffe_id, validity).map_err(unavailable)
}

/// Every issuance is logged: who, which serial, until when. Never keys or tokens.
pub fn log_issued(via: &str, spiffe_id: &str, leaf: &Leaf) {
    tracing::info!(
        via,
        spiffe.id = spiffe_id,
        serial = %leaf.serial,
        not_after = %rfc3339(leaf.not_after),
        "certificate issued"
    );
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    k8s_openapi::jiff::Timestamp::from_second(t.unix_timestamp())
        .map(|ts| ts.to_string())
        .unwrap_or_default()
}

// === impl Settings ===

impl Settings {
    /// The lifetime to issue: the requested one (at least a minute) or the default,
    /// capped at the maximum.
    pub fn lifetime(&self, requested: Option<u64>) -> Result<Duration, Refusal> {
        match requested {
            None => Ok(self.default_lifetime.min(self.max_lifetime)),
            Some(s) if s < MIN_LIFETIME_SECONDS => Err(Refusal::new(
                code::BAD_REQUEST,
                format!("lifetimeSeconds must be at least {MIN_LIFETIME_SECONDS}"),
            )),
            Some(s) => Ok(Duration::from_secs(s).min(self.max_lifetime)),
        }
    }
}

// === impl Refusal ===

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        let status = match code {
            code::BAD_REQUEST => StatusCode::BAD_REQUEST,
            code::UNAUTHENTICATED => StatusCode::UNAUTHORIZED,
            code::FORBIDDEN => StatusCode::FORBIDDEN,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self {
            status,
            code,
            message: message.into(),
            spiffe_id: None,
        }
    }

    fn caller(mut self, spiffe_id: &str) -> Self {
        self.spiffe_id = Some(spiffe_id.to_owned());
        self
    }
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unavailable(_) => Self::new(code::UNAVAILABLE, e.to_string()),
            _ => Self::new(code::UNAUTHENTICATED, e.to_string()),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = header::HeaderValue::from_static("Bearer");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

#[cfg(test)]
mod tests;
