//! OpenTelemetry traces over OTLP/gRPC (`--otlp-endpoint`, or the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT`), shaped by proposal 0033 and the MCP semantic
//! conventions: a request span, an authorization span with one child per evaluated
//! rule, an ExternalAuth span and the upstream call. W3C `traceparent` comes from the
//! MCP message's `params._meta` or else the HTTP header, and the upstream call's goes
//! to the server. With no endpoint, `Tracer` is `None` inside: no provider, no
//! exporter, no span and no explain on the request path.

mod request;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{
    SpanContext, SpanId, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

pub use request::{Finish, RequestTrace};

/// Tracing for the whole sidecar; cheap to clone, `off()` when not configured.
#[derive(Clone, Debug, Default)]
pub struct Tracer(Option<Arc<Inner>>);

#[derive(Debug)]
struct Inner {
    provider: SdkTracerProvider,
    tracer: opentelemetry_sdk::trace::Tracer,
}

/// The endpoint is not part of the message: it may carry credentials.
#[derive(Debug, thiserror::Error)]
#[error("--otlp-endpoint: {message}")]
pub struct TraceError {
    message: String,
}

/// How often finished spans are sent.
const EXPORT_DELAY: Duration = Duration::from_millis(500);

// === impl Tracer ===

impl Tracer {
    /// Off without an endpoint; else an OTLP/gRPC exporter (call within the runtime).
    pub fn new(endpoint: Option<&str>) -> Result<Self, TraceError> {
        let Some(endpoint) = endpoint.filter(|e| !e.is_empty()) else {
            return Ok(Tracer::off());
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| TraceError {
                message: e.to_string(),
            })?;
        let batch = BatchConfigBuilder::default()
            .with_scheduled_delay(EXPORT_DELAY)
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build();
        let resource = Resource::builder()
            .with_service_name("agentnet-sidecar")
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("agentnet-sidecar");
        Ok(Tracer(Some(Arc::new(Inner { provider, tracer }))))
    }

    pub fn off() -> Self {
        Tracer(None)
    }

    /// The trace of one request; when off, an inert value that allocates nothing.
    pub fn request(&self, headers: &http::HeaderMap) -> RequestTrace {
        match &self.0 {
            None => RequestTrace::default(),
            Some(inner) => RequestTrace::start(inner.tracer.clone(), headers),
        }
    }

    /// Sends what is still buffered and stops the exporter.
    pub fn shutdown(&self) {
        if let Some(inner) = &self.0
            && let Err(e) = inner.provider.shutdown()
        {
            tracing::warn!(error = %e, "trace exporter shutdown failed");
        }
    }
}

/// A W3C `traceparent` (`00-<trace id>-<span id>-<flags>`), as a remote parent.
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    let trace_id = TraceId::from_hex(trace)
        .ok()
        .filter(|t| *t != TraceId::INVALID)?;
    let span_id = SpanId::from_hex(span)
        .ok()
        .filter(|s| *s != SpanId::INVALID)?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    ))
}

/// The `traceparent` of `span`.
pub fn format_traceparent(span: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        span.trace_id(),
        span.span_id(),
        span.trace_flags().to_u8()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_parse_and_format_back() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let sc = parse_traceparent(tp).unwrap();
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(format_traceparent(&sc), tp);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-0000-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn no_endpoint_means_no_provider_and_inert_request_traces() {
        let tracer = Tracer::new(None).unwrap();
        assert!(tracer.0.is_none());
        let mut trace = tracer.request(&http::HeaderMap::new());
        assert!(!trace.is_on());
        trace.begin(Some(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ));
        assert!(!trace.is_on(), "begin does nothing when off");
        assert_eq!(
            std::mem::size_of::<RequestTrace>(),
            std::mem::size_of::<usize>()
        );
        assert!(Tracer::new(Some("")).unwrap().0.is_none());
    }
}
