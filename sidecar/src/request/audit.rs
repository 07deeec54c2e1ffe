//! audit: one record per request, filled in by each stage and emitted exactly once
//! when it is dropped, whether the request finished, failed or was cancelled. It
//! goes to target `agentnet::audit` and to the request metrics. Bodies, arguments and
//! headers are never part of it.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use agentnet_policy::{Backend, Decision, Protocol};
use http::{HeaderMap, Method};

use crate::metrics::{Metrics, RequestLabels, label_method};
use crate::request::codec::Call;
use crate::request::forward::UpstreamError;
use crate::request::identify::{Passthrough, RouteError};
use crate::request::respond::ProxyError;
use crate::request::trace::{Finish, RequestTrace, parse_traceparent};

pub const TARGET: &str = "agentnet::audit";

fn upstream_kind(e: &UpstreamError) -> &'static str {
    match e {
        UpstreamError::Connect { .. } => "connect",
        UpstreamError::Tls { .. } => "tls",
        UpstreamError::Protocol { .. } => "protocol",
        UpstreamError::Uri(_) => "uri",
    }
}

/// What happened to a request, as far as it got.
#[derive(Debug)]
pub struct Record {
    start: Instant,
    time: SystemTime,
    enabled: bool,
    metrics: Arc<Metrics>,
    pub source: Arc<str>,
    /// `namespace/name` of the XBackend.
    pub backend: Option<String>,
    /// The authority of a destination that is no XBackend.
    pub destination: Option<String>,
    /// `mcp`, `a2a`, `http` (no XBackend) or `connect`.
    pub protocol: &'static str,
    /// As sent: a JSON-RPC method or, without one, the HTTP method.
    pub method: Option<String>,
    /// The tool, prompt, resource URI or skill.
    pub target: Option<String>,
    /// `allow`, `deny` or `reject` (malformed, never decided).
    pub decision: Option<&'static str>,
    pub policy: Option<String>,
    pub rule: Option<String>,
    pub reason: Option<String>,
    pub status: Option<u16>,
    pub generation: u64,
    /// Refused by a rate limit (the decision is `deny`).
    pub limited: bool,
    /// The request's spans; inert unless tracing is on.
    pub trace: RequestTrace,
    /// The trace id of the caller's `traceparent`, for when tracing is off (on, the
    /// request span's own trace id is logged).
    pub trace_id: Option<String>,
    /// The first 16 hex digits of the SHA-256 of the `mcp-session-id`: the session's
    /// requests correlate, and the id itself (a credential to some servers) is never
    /// logged.
    pub session: Option<String>,
}

// === impl Record ===

impl Record {
    pub fn new(source: Arc<str>, metrics: Arc<Metrics>, enabled: bool) -> Self {
        Record {
            start: Instant::now(),
            time: SystemTime::now(),
            enabled,
            metrics,
            source,
            backend: None,
            destination: None,
            protocol: "http",
            method: None,
            target: None,
            decision: None,
            policy: None,
            rule: None,
            reason: None,
            status: None,
            generation: 0,
            limited: false,
            trace: RequestTrace::default(),
            trace_id: None,
            session: None,
        }
    }

    /// What correlates this request with others: the caller's trace and MCP session.
    /// Only for the audit line, so nothing is parsed or hashed when it is off.
    pub fn correlate(&mut self, headers: &HeaderMap) {
        if !self.enabled {
            return;
        }
        let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        self.trace_id = header("traceparent")
            .and_then(parse_traceparent)
            .map(|sc| sc.trace_id().to_string());
        self.session = header("mcp-session-id").map(session_digest);
    }

    pub fn decided(&mut self, decision: &Decision) {
        self.decision = Some(if decision.is_allowed() {
            "allow"
        } else {
            "deny"
        });
        self.policy = decision.policy.as_ref().map(ToString::to_string);
        self.rule.clone_from(&decision.rule);
        self.reason = Some(decision.reason());
    }

    /// The request goes to `backend`.
    pub fn route(&mut self, backend: &Backend) {
        self.backend = Some(backend.id().to_string());
        self.protocol = match backend.protocol() {
            Protocol::Mcp => "mcp",
            Protocol::A2a => "a2a",
        };
    }

    /// What the request asks for: its JSON-RPC method (else its HTTP method) and target.
    pub fn call(&mut self, call: &Call, http_method: &Method) {
        self.method = Some(
            call.method
                .clone()
                .unwrap_or_else(|| http_method.to_string()),
        );
        self.target.clone_from(&call.target);
    }

    /// A destination that is no XBackend, or an excluded port: allowed unseen.
    pub fn passthrough(&mut self, authority: &str, method: &Method, why: Passthrough) {
        (self.destination, self.method) = (Some(authority.to_owned()), Some(method.to_string()));
        if *method == Method::CONNECT {
            self.protocol = "connect";
        }
        self.decision = Some("allow");
        self.reason = Some(match why {
            Passthrough::ExcludedPort => "excluded port: passed through without policy".into(),
            Passthrough::OutboundAllow => "not an XBackend: allowed by the outbound default".into(),
        });
    }

    /// Records why the request failed: the one place a failure reaches the record.
    /// Refusals of the destination are denials; upstream failures are counted by kind;
    /// anything else that came before a decision is a rejection with its reason.
    pub fn failed(&mut self, e: &ProxyError) {
        match e {
            ProxyError::NotSynced
            | ProxyError::Route(RouteError::Ambiguous(_) | RouteError::HostMismatch { .. }) => {
                self.denied(None, None, e.to_string())
            }
            ProxyError::Route(RouteError::OutboundDenied(authority)) => {
                self.destination = Some(authority.clone());
                self.denied(None, None, e.to_string());
            }
            ProxyError::Upstream(u) => {
                let backend = self.backend.as_deref().unwrap_or_default();
                self.metrics.upstream_error(backend, upstream_kind(u));
                self.reason.get_or_insert_with(|| e.to_string());
            }
            ProxyError::Denied(_) | ProxyError::RateLimited(_) => {}
            _ if self.decision.is_none() => self.reason = Some(e.to_string()),
            _ => {}
        }
    }

    pub fn denied(&mut self, policy: Option<String>, rule: Option<String>, reason: String) {
        (self.decision, self.policy, self.rule, self.reason) =
            (Some("deny"), policy, rule, Some(reason));
    }

    fn emit(&mut self) {
        let latency = self.start.elapsed();
        if self.enabled
            && let Some(id) = self.trace.trace_id()
        {
            self.trace_id = Some(id);
        }
        let decision = self.decision.unwrap_or("reject");
        let labels = RequestLabels {
            backend: self.backend.clone().unwrap_or_default(),
            protocol: self.protocol,
            method: self.method.as_deref().map_or("other", label_method),
            decision,
        };
        self.metrics.request(labels, latency.as_secs_f64());
        self.finish_trace(decision);
        if self.enabled {
            self.log(decision, latency.as_secs_f64() * 1000.0);
        }
    }

    fn finish_trace(&mut self, decision: &'static str) {
        if !self.trace.is_on() {
            return;
        }
        let error_type = match (decision, self.status) {
            _ if self.limited => Some("RateLimitExceededError"),
            ("deny", _) => Some("PermissionDeniedError"),
            ("reject", _) => Some("InvalidRequestError"),
            (_, Some(s)) if s >= 500 => Some("UpstreamError"),
            _ => None,
        };
        let finish = Finish {
            status: self.status,
            decision,
            method: self.method.as_deref(),
            target: self.target.as_deref(),
            backend: self.backend.as_deref(),
            policy: self.policy.as_deref(),
            rule: self.rule.as_deref(),
            error_type,
        };
        let mut trace = std::mem::take(&mut self.trace);
        trace.finish(&finish);
    }

    fn log(&self, decision: &str, latency_ms: f64) {
        tracing::info!(
            target: TARGET,
            time = %humantime::format_rfc3339_millis(self.time),
            source = %self.source,
            backend = self.backend.as_deref(),
            destination = self.destination.as_deref(),
            protocol = self.protocol,
            method = self.method.as_deref(),
            target = self.target.as_deref(),
            decision,
            policy = self.policy.as_deref(),
            rule = self.rule.as_deref(),
            reason = self.reason.as_deref(),
            status = self.status,
            latency_ms,
            generation = self.generation,
            trace_id = self.trace_id.as_deref(),
            session = self.session.as_deref(),
            "decision"
        );
    }
}

/// First 16 hex digits of the SHA-256 of `session`.
fn session_digest(session: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, session.as_bytes());
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Drop for Record {
    fn drop(&mut self) {
        self.emit();
    }
}

#[cfg(test)]
mod tests;
