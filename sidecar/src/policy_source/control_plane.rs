//! Control-plane mode (the default when injected): the policy comes from the control
//! plane's policy service, `GET <policy URL>/v1/policy/view` (the protocol is in
//! `agentnet_api::contract::policy`). The sidecar proves who it is with its projected
//! token, re-read for every connection; it verifies the server against the trust
//! bundle in force at the time. Each view line is compiled and published; heartbeats
//! confirm the policy in force. When the stream breaks, or stays silent for three
//! heartbeat intervals, the last view stays in force and the sidecar reconnects with a
//! capped, jittered backoff, through the Service, to whichever replica answers. Before
//! the first view nothing is synced and the data path fails closed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agentnet_api::contract::identity::field;
use agentnet_api::contract::policy::{HEARTBEAT_SECONDS, IDENTITY_PARAM, VIEW_PATH};
use agentnet_policy::ViewMessage;
use bytes::BytesMut;
use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::Value;

use super::connection::{self, Acker};
use super::publish::Publisher;
use crate::identity::TrustStore;
use crate::identity::client::error_chain;

/// A view of a few thousand objects is a few MB; anything larger is refused.
const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;
/// Reconnect backoff: from the first to the cap, doubling, with jitter.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct ControlPlane {
    /// `<policy URL>/v1/policy/view?identity=<SPIFFE ID>`.
    pub endpoint: String,
    pub token_file: PathBuf,
    pub trust: Arc<TrustStore>,
}

#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("reading the token file {path}: {message}")]
    Token { path: String, message: String },
    #[error("the trust bundle is empty, so the policy service cannot be verified")]
    NoRoots,
    #[error("GET {endpoint}: {message}")]
    Transport { endpoint: String, message: String },
    #[error("the policy service refused: {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("no line from the policy service for {0:?}")]
    Silent(Duration),
    #[error("the policy stream ended")]
    Ended,
    #[error("a policy line is not understood: {0}")]
    Line(String),
    #[error("a policy line exceeds {MAX_LINE_BYTES} bytes")]
    TooLong,
}

// === impl ControlPlane ===

impl ControlPlane {
    pub fn new(url: &str, spiffe_id: &str, token_file: PathBuf, trust: Arc<TrustStore>) -> Self {
        let identity = url_escape(spiffe_id);
        Self {
            endpoint: format!(
                "{}{VIEW_PATH}?{IDENTITY_PARAM}={identity}",
                url.trim_end_matches('/')
            ),
            token_file,
            trust,
        }
    }

    async fn token(&self) -> Result<String, StreamError> {
        let token = tokio::fs::read_to_string(&self.token_file)
            .await
            .map_err(|e| StreamError::Token {
                path: self.token_file.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(token.trim().to_owned())
    }

    fn transport(&self, message: String) -> StreamError {
        StreamError::Transport {
            endpoint: self.endpoint.clone(),
            message,
        }
    }

    /// One connection: views are published as they arrive; returns why it ended and
    /// sets `got_view` if a view arrived (which resets the backoff).
    async fn stream(&self, publisher: &mut Option<Publisher>, got_view: &mut bool) -> StreamError {
        match self.stream_inner(publisher, got_view).await {
            Ok(()) => StreamError::Ended,
            Err(e) => e,
        }
    }

    async fn stream_inner(
        &self,
        publisher: &mut Option<Publisher>,
        got_view: &mut bool,
    ) -> Result<(), StreamError> {
        let silent = Duration::from_secs(3 * HEARTBEAT_SECONDS);
        let token = self.token().await?;
        let roots = self.trust.load();
        if roots.is_empty() {
            return Err(StreamError::NoRoots);
        }
        let (response, acker) =
            tokio::time::timeout(silent, connection::open(&self.endpoint, &roots, &token))
                .await
                .map_err(|_| StreamError::Silent(silent))?
                .map_err(|e| self.transport(e.to_string()))?;
        let status = response.status();
        let mut body = response.into_body();
        if status != StatusCode::OK {
            let bytes = http_body_util::Limited::new(body, 64 * 1024)
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            return Err(refused(status, &bytes));
        }
        let mut buffer = BytesMut::new();
        loop {
            let frame = tokio::time::timeout(silent, body.frame())
                .await
                .map_err(|_| StreamError::Silent(silent))?;
            let Some(frame) = frame else {
                return Ok(());
            };
            let frame = frame.map_err(|e| self.transport(error_chain(&e)))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buffer.extend_from_slice(&data);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line = buffer.split_to(end + 1);
                self.apply(&line[..end], publisher, got_view, acker.as_ref())
                    .await?;
            }
            if buffer.len() > MAX_LINE_BYTES {
                return Err(StreamError::TooLong);
            }
        }
    }

    async fn apply(
        &self,
        line: &[u8],
        publisher: &mut Option<Publisher>,
        got_view: &mut bool,
        acker: Option<&Acker>,
    ) -> Result<(), StreamError> {
        let message: ViewMessage = match serde_json::from_slice(line) {
            Ok(message) => message,
            Err(e) => {
                // Refused, and said so: the replica shows the session REJECTED.
                let error = StreamError::Line(e.to_string());
                if let Some(acker) = acker {
                    acker.send(&line_version(line), Some(error.to_string()));
                }
                return Err(error);
            }
        };
        match message {
            ViewMessage::View {
                version,
                generation,
                snapshot,
            } => {
                let Some(mut p) = publisher.take() else {
                    return Err(StreamError::Ended);
                };
                // Compiling is CPU work no request should wait behind.
                let (p, published) = tokio::task::spawn_blocking(move || {
                    let published = p.publish(snapshot);
                    (p, published)
                })
                .await
                .map_err(|e| StreamError::Line(format!("compiling the view: {e}")))?;
                if published {
                    tracing::info!(%version, control_plane_generation = generation, generation = p.state().generation(), "policy view published");
                }
                *publisher = Some(p);
                *got_view = true;
                if let Some(acker) = acker {
                    acker.send(&version, None);
                }
            }
            ViewMessage::Heartbeat { .. } => {
                if let Some(p) = publisher.as_ref() {
                    p.state().confirm();
                }
            }
        }
        Ok(())
    }
}

/// Streams views into `publisher` forever, reconnecting with backoff.
pub async fn run(source: ControlPlane, publisher: Publisher) {
    let mut publisher = Some(publisher);
    let mut backoff = BACKOFF_FIRST;
    loop {
        let mut got_view = false;
        let why = source.stream(&mut publisher, &mut got_view).await;
        if publisher.is_none() {
            return tracing::error!("policy publishing failed; keeping the last policy");
        }
        if got_view {
            backoff = BACKOFF_FIRST;
        }
        tracing::warn!(error = %why, retry_in = ?backoff, "policy stream lost; keeping the last policy, reconnecting");
        tokio::time::sleep(jittered(backoff)).await;
        backoff = (backoff * 2).min(BACKOFF_CAP);
    }
}

/// Between half and all of `d`, so that sidecars cut off together do not return together.
fn jittered(d: Duration) -> Duration {
    d.mul_f64(0.5 + rand::random::<f64>() / 2.0)
}

/// The `version` of a line that is not a view we understand, if it has one.
fn line_version(line: &[u8]) -> String {
    let value: Value = serde_json::from_slice(line).unwrap_or_default();
    value["version"].as_str().unwrap_or("unknown").to_owned()
}

/// An error answer: its status, `error` code and `message`.
fn refused(status: StatusCode, body: &[u8]) -> StreamError {
    let value: Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |f: &str| value[f].as_str().unwrap_or_default().to_owned();
    StreamError::Refused {
        status: status.as_u16(),
        code: text(field::ERROR),
        message: text(field::MESSAGE),
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_names_the_identity_escaped() {
        let trust = TrustStore::new(crate::identity::trust::Roots::default());
        let cp = ControlPlane::new(
            "https://agentnet-webhook.agentnet-system.svc:8444/",
            "spiffe://cluster.local/ns/a/sa/b",
            "/t".into(),
            trust,
        );
        assert_eq!(
            cp.endpoint,
            "https://agentnet-webhook.agentnet-system.svc:8444/v1/policy/view?identity=spiffe%3A%2F%2Fcluster.local%2Fns%2Fa%2Fsa%2Fb"
        );
    }

    #[test]
    fn backoff_jitter_stays_within_half_and_whole() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(4));
            assert!(
                d >= Duration::from_secs(2) && d <= Duration::from_secs(4),
                "{d:?}"
            );
        }
    }
}
