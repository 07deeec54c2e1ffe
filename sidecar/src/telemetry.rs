//! Logging setup, done once by `main`: the operator log (plain or JSON, filtered by
//! `AGENTNET_LOG`) and the audit log, always one flat JSON object per line on stdout.

use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use crate::config::{LogConfig, LogFormat};
use crate::request::audit;

/// Installs the global subscriber.
pub fn init(log: &LogConfig) -> Result<(), tracing_subscriber::filter::ParseError> {
    let LogConfig {
        filter,
        log_format,
        audit,
    } = log;
    let filter = EnvFilter::builder().parse(filter)?;
    let not_audit = FilterFn::new(|m| m.target() != audit::TARGET);
    let operator = match log_format {
        LogFormat::Json => fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(not_audit)
            .boxed(),
        LogFormat::Plain => fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(not_audit)
            .boxed(),
    };
    let audit_layer = audit.then(|| audit_layer(std::io::stdout));
    tracing_subscriber::registry()
        .with(operator.with_filter(filter))
        .with(audit_layer)
        .init();
    Ok(())
}

/// Audit records as `{"time":…,"source":…,…,"message":"decision"}`, one per line.
pub fn audit_layer<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_writer(writer)
        .with_filter(FilterFn::new(|m| m.target() == audit::TARGET))
}
