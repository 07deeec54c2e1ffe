//! The spans of one request: `mcp.gateway.request` (server), `mcp.authorization` with
//! one `mcp.authorization.rule` per rule evaluated (up to the deciding one, or a
//! `default-deny`), `mcp.authorization.external` and `mcp.upstream` (client).

use std::time::SystemTime;

use agentnet_api::v1alpha1::PolicyAction;
use agentnet_policy::{Explanation, Outcome};
use http::HeaderMap;
use http::header::HeaderValue;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::Tracer;

use super::{format_traceparent, parse_traceparent};

/// Off (`None`, one word, nothing allocated) unless tracing is on.
#[derive(Debug, Default)]
pub struct RequestTrace(Option<Box<Live>>);

#[derive(Debug)]
struct Live {
    tracer: Tracer,
    started: SystemTime,
    header_parent: Option<String>,
    session: Option<String>,
    /// The request span, once begun.
    cx: Option<Context>,
}

/// A child span, ended by `end` (or when dropped, as unset).
#[derive(Debug, Default)]
pub struct ChildSpan(Option<Context>);

/// What the request span says at the end.
#[derive(Debug, Default)]
pub struct Finish<'a> {
    pub status: Option<u16>,
    /// `allow`, `deny` or `reject`.
    pub decision: &'a str,
    pub method: Option<&'a str>,
    pub target: Option<&'a str>,
    pub backend: Option<&'a str>,
    pub policy: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub error_type: Option<&'static str>,
}

// === impl RequestTrace ===

impl RequestTrace {
    pub(super) fn start(tracer: Tracer, headers: &HeaderMap) -> Self {
        let header = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        RequestTrace(Some(Box::new(Live {
            tracer,
            started: SystemTime::now(),
            header_parent: header("traceparent"),
            session: header("mcp-session-id"),
            cx: None,
        })))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The request span's trace id, once it has begun.
    pub fn trace_id(&self) -> Option<String> {
        let cx = self.0.as_deref()?.cx.as_ref()?;
        Some(cx.span().span_context().trace_id().to_string())
    }

    /// Starts the request span, child of `meta_parent` (the MCP `_meta.traceparent`)
    /// or else of the HTTP `traceparent`; once.
    pub fn begin(&mut self, meta_parent: Option<&str>) {
        let Some(live) = self.0.as_deref_mut() else {
            return;
        };
        if live.cx.is_some() {
            return;
        }
        let parent = meta_parent
            .and_then(parse_traceparent)
            .or_else(|| live.header_parent.as_deref().and_then(parse_traceparent));
        let parent_cx = match parent {
            Some(sc) => Context::new().with_remote_span_context(sc),
            None => Context::new(),
        };
        let span = live
            .tracer
            .span_builder("mcp.gateway.request")
            .with_kind(SpanKind::Server)
            .with_start_time(live.started)
            .start_with_context(&live.tracer, &parent_cx);
        live.cx = Some(parent_cx.with_span(span));
    }

    /// `mcp.authorization` and its rule spans, from the policy engine's explanation:
    /// every rule up to the deciding one, or a `default-deny` when none admitted.
    pub fn authorization(&mut self, e: &Explanation) {
        let Some(cx) = self.context() else { return };
        let Some(live) = self.0.as_deref() else {
            return;
        };
        let authz = start(&live.tracer, "mcp.authorization", &cx);
        let action = if e.decision.is_allowed() {
            "allow"
        } else {
            "deny"
        };
        authz.span().set_attributes([
            KeyValue::new("security_rule.ruleset.name", e.decision.backend.to_string()),
            KeyValue::new("event.action", action),
            KeyValue::new("event.outcome", "success"),
        ]);
        let mut decided = false;
        for step in &e.steps {
            rule_span(&live.tracer, &authz, step);
            decided |= step.deciding && step.action == PolicyAction::Allow;
            if decided {
                break;
            }
        }
        if !decided && !e.decision.is_allowed() {
            default_deny(&live.tracer, &authz);
        }
        authz.span().end();
    }

    /// A child span of the request span (`None` inside when off).
    pub fn child(&mut self, name: &'static str, kind: SpanKind) -> ChildSpan {
        let Some(cx) = self.context() else {
            return ChildSpan(None);
        };
        let Some(live) = self.0.as_deref() else {
            return ChildSpan(None);
        };
        let span = live
            .tracer
            .span_builder(name)
            .with_kind(kind)
            .start_with_context(&live.tracer, &cx);
        ChildSpan(Some(cx.with_span(span)))
    }

    /// Ends the request span with the request's outcome.
    pub fn finish(&mut self, f: &Finish<'_>) {
        let Some(cx) = self.context() else { return };
        let session = self.0.as_deref().and_then(|l| l.session.clone());
        let span = cx.span();
        let action = if f.decision == "allow" {
            "allow"
        } else {
            "deny"
        };
        let outcome = if f.error_type.is_some() {
            "failure"
        } else {
            "success"
        };
        span.set_attribute(KeyValue::new("event.action", action));
        span.set_attribute(KeyValue::new("event.outcome", outcome));
        for (key, value) in f.texts(session.as_deref()) {
            if let Some(v) = value {
                span.set_attribute(KeyValue::new(key, v.to_owned()));
            }
        }
        if let Some(status) = f.status {
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
        }
        if let Some(e) = f.error_type {
            span.set_status(Status::error(e));
        }
        span.end();
    }

    /// The request span's context, beginning it (with the header's parent) if needed.
    fn context(&mut self) -> Option<Context> {
        self.begin(None);
        self.0.as_deref().and_then(|l| l.cx.clone())
    }
}

/// A span named `name`, child of `parent`, as a context.
fn start(tracer: &Tracer, name: &'static str, parent: &Context) -> Context {
    let span = tracer.span_builder(name).start_with_context(tracer, parent);
    parent.with_span(span)
}

fn default_deny(tracer: &Tracer, authz: &Context) {
    let cx = start(tracer, "mcp.authorization.rule", authz);
    cx.span().set_attributes([
        KeyValue::new("security_rule.name", "default-deny"),
        KeyValue::new("security_rule.match", true),
        KeyValue::new("event.action", "deny"),
    ]);
    cx.span().end();
}

fn rule_span(tracer: &Tracer, parent: &Context, step: &agentnet_policy::Step) {
    let cx = start(tracer, "mcp.authorization.rule", parent);
    let matched = matches!(step.outcome, Outcome::Matched | Outcome::NoRules);
    let action = match (step.action, matched) {
        (PolicyAction::Allow, true) => "allow",
        (PolicyAction::ExternalAuth, true) => "external_auth",
        (_, false) => "none",
    };
    cx.span().set_attributes([
        KeyValue::new("security_rule.name", step.rule.clone().unwrap_or_default()),
        KeyValue::new("security_rule.ruleset.name", step.policy.to_string()),
        KeyValue::new("security_rule.match", matched),
        KeyValue::new("event.action", action),
    ]);
    cx.span().end();
}

// === impl Finish ===

impl<'a> Finish<'a> {
    /// The request span's text attributes (MCP semantic conventions, 0033).
    fn texts(&self, session: Option<&'a str>) -> [(&'static str, Option<&'a str>); 7] {
        let tool = self.target.filter(|_| self.method == Some("tools/call"));
        [
            ("mcp.method.name", self.method),
            ("gen_ai.tool.name", tool),
            ("mcp.session.id", session),
            ("security_rule.name", self.rule),
            ("agentnet.backend", self.backend),
            ("agentnet.policy", self.policy),
            ("error.type", self.error_type),
        ]
    }
}

// === impl ChildSpan ===

impl ChildSpan {
    /// Sets `traceparent` on an outgoing request to this span's context.
    pub fn inject(&self, headers: &mut HeaderMap) {
        let Some(cx) = &self.0 else { return };
        let value = format_traceparent(cx.span().span_context());
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert("traceparent", v);
        }
    }

    pub fn attribute(&self, key: &'static str, value: String) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(KeyValue::new(key, value));
        }
    }

    /// Ends the span; `error` sets `error.type` and an error status.
    pub fn end(self, action: Option<&'static str>, error: Option<&'static str>) {
        let Some(cx) = self.0 else { return };
        let span = cx.span();
        if let Some(a) = action {
            span.set_attribute(KeyValue::new("event.action", a));
        }
        span.set_attribute(KeyValue::new(
            "event.outcome",
            if error.is_some() {
                "failure"
            } else {
                "success"
            },
        ));
        if let Some(e) = error {
            span.set_attribute(KeyValue::new("error.type", e));
            span.set_status(Status::error(e));
        }
        span.end();
    }
}
