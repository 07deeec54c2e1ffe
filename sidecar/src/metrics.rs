//! Prometheus metrics of the sidecar (served at the admin listener's `/metrics`):
//! requests by backend, protocol, method and decision; their latency; upstream
//! errors; the policy index's generation, age and sync; manifests that failed.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::identity::metrics::IdentityMetrics;
use crate::policy_source::PolicyState;

/// Labels of one request. `method` is normalized to a bounded set (see `label_method`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `namespace/name`, or empty for destinations that are no XBackend.
    pub backend: String,
    pub protocol: &'static str,
    pub method: &'static str,
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    protocol: &'static str,
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    backend: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RateLimitLabels {
    backend: String,
    /// `namespace/policy/limit`: bounded by the policies, not by callers.
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExternalAuthLabels {
    backend: String,
    /// `allow`, `denied`, `unreachable`, `timeout`, `unresolved` or `protocol`.
    outcome: &'static str,
}

type HistogramFamily = Family<LatencyLabels, Histogram, fn() -> Histogram>;

/// Request latency buckets, in seconds: from a denial answered in half a millisecond
/// to a tool call or an A2A task that runs for minutes.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    upstream_errors: Family<UpstreamLabels, Counter>,
    generation: Gauge,
    age: Gauge<f64, AtomicU64>,
    confirmed_age: Gauge<f64, AtomicU64>,
    stale: Gauge,
    synced: Gauge,
    config_errors: Gauge,
    rate_limited: Family<RateLimitLabels, Counter>,
    external_auth: Family<ExternalAuthLabels, Counter>,
    /// Certificate renewals and expiry, trust roots, inbound handshakes.
    pub identity: IdentityMetrics,
}

/// `registry.register(name, help, metric.clone())` for each line.
macro_rules! register {
    ($registry:expr; $($name:literal, $help:literal => $metric:expr;)*) => {
        $($registry.register($name, $help, $metric.clone());)*
    };
}

/// MCP and A2A methods counted by name; anything else is `other`.
const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "subscriptions/listen",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
    "SendMessage",
    "SendStreamingMessage",
    "GetTask",
    "ListTasks",
    "CancelTask",
    "SubscribeToTask",
    "GetExtendedAgentCard",
    "message/send",
    "message/stream",
    "tasks/get",
    "tasks/cancel",
    "tasks/resubscribe",
    "GET",
    "POST",
    "DELETE",
    "PUT",
    "PATCH",
    "HEAD",
    "OPTIONS",
    "CONNECT",
];

/// A label value from an untrusted method name, so clients cannot grow the series.
pub fn label_method(method: &str) -> &'static str {
    KNOWN_METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

// === impl Metrics ===

impl Metrics {
    pub fn new() -> Self {
        let buckets = || Histogram::new(LATENCY_BUCKETS.iter().copied());
        let metrics = Metrics {
            registry: Registry::with_prefix("agentnet"),
            requests: Family::default(),
            latency: Family::new_with_constructor(buckets),
            upstream_errors: Family::default(),
            generation: Gauge::default(),
            age: Gauge::default(),
            confirmed_age: Gauge::default(),
            stale: Gauge::default(),
            synced: Gauge::default(),
            config_errors: Gauge::default(),
            rate_limited: Family::default(),
            external_auth: Family::default(),
            identity: IdentityMetrics::default(),
        };
        metrics.registered()
    }

    fn registered(mut self) -> Self {
        register! { self.registry;
            "requests", "Requests by backend, protocol, method and decision" => self.requests;
            "request_duration_seconds", "Time from request to response head" => self.latency;
            "upstream_errors", "Upstream connect, TLS and protocol failures" => self.upstream_errors;
            "policy_index_generation", "Generation of the policy index in force" => self.generation;
            "policy_index_age_seconds", "Seconds since the policy index was published" => self.age;
            "policy_synced", "1 once the policy source has synced" => self.synced;
            "policy_confirmed_age_seconds", "Seconds since the policy source last confirmed the policy in force (a view or a heartbeat)" => self.confirmed_age;
            "policy_stale", "1 while the policy in force is older than --policy-stale-after (still enforced)" => self.stale;
            "config_errors", "Manifests or objects skipped because they are invalid" => self.config_errors;
            "rate_limited", "Requests refused by a RateLimitPolicy limit" => self.rate_limited;
            "external_auth_checks", "ExternalAuth checks by outcome" => self.external_auth;
        }
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        self.registry.register(
            "build_info",
            "The running agentnet-sidecar's version (always 1)",
            build,
        );
        self.identity.register(&mut self.registry);
        self
    }

    pub fn request(&self, labels: RequestLabels, seconds: f64) {
        let latency = LatencyLabels {
            protocol: labels.protocol,
            decision: labels.decision,
        };
        self.latency.get_or_create(&latency).observe(seconds);
        self.requests.get_or_create(&labels).inc();
    }

    pub fn rate_limited(&self, backend: &str, limit: &str) {
        let labels = RateLimitLabels {
            backend: backend.to_owned(),
            limit: limit.to_owned(),
        };
        self.rate_limited.get_or_create(&labels).inc();
    }

    pub fn external_auth(&self, backend: &str, outcome: &'static str) {
        let labels = ExternalAuthLabels {
            backend: backend.to_owned(),
            outcome,
        };
        self.external_auth.get_or_create(&labels).inc();
    }

    pub fn upstream_error(&self, backend: &str, kind: &'static str) {
        self.upstream_errors
            .get_or_create(&UpstreamLabels {
                backend: backend.to_owned(),
                kind,
            })
            .inc();
    }

    /// The text exposition, with the policy gauges read from `state` now.
    pub fn encode(&self, state: &PolicyState) -> Result<String, std::fmt::Error> {
        self.generation
            .set(i64::try_from(state.generation()).unwrap_or(i64::MAX));
        self.age.set(state.age().map_or(0.0, |a| a.as_secs_f64()));
        self.synced.set(i64::from(state.is_synced()));
        let confirmed = state.confirmed_age().map_or(0.0, |a| a.as_secs_f64());
        self.confirmed_age.set(confirmed);
        self.stale.set(i64::from(state.is_stale()));
        self.config_errors
            .set(i64::try_from(state.problems().len()).unwrap_or(i64::MAX));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use agentnet_policy::Settings;

    use super::*;

    #[test]
    fn counts_requests_with_bounded_labels() {
        let m = Metrics::new();
        let labels = RequestLabels {
            backend: "tools/mcp".into(),
            protocol: "mcp",
            method: label_method("tools/call"),
            decision: "deny",
        };
        m.request(labels, 0.001);
        m.upstream_error("tools/mcp", "connect");
        assert_eq!(label_method("x/evil\"{}"), "other");
        let text = m.encode(&PolicyState::new(&Settings::default())).unwrap();
        assert!(text.contains(r#"agentnet_requests_total{backend="tools/mcp",protocol="mcp",method="tools/call",decision="deny"} 1"#), "{text}");
        assert!(
            text.contains(
                r#"agentnet_upstream_errors_total{backend="tools/mcp",kind="connect"} 1"#
            )
        );
        assert!(
            text.contains("agentnet_policy_synced 0")
                && text.contains("agentnet_request_duration_seconds_bucket")
        );
    }

    #[test]
    fn latency_buckets_cover_long_tool_calls_and_the_version_is_exposed() {
        let m = Metrics::new();
        let labels = |decision| RequestLabels {
            backend: "tools/mcp".into(),
            protocol: "mcp",
            method: label_method("tools/call"),
            decision,
        };
        m.request(labels("allow"), 200.0);
        m.request(labels("deny"), 0.000_3);
        let text = m.encode(&PolicyState::new(&Settings::default())).unwrap();
        let bucket = |le: &str, decision: &str, n: u32| {
            format!(
                r#"agentnet_request_duration_seconds_bucket{{le="{le}",protocol="mcp",decision="{decision}"}} {n}"#
            )
        };
        // A 200 s call is counted below 300 s, not only in +Inf.
        assert!(text.contains(&bucket("120.0", "allow", 0)), "{text}");
        assert!(text.contains(&bucket("300.0", "allow", 1)), "{text}");
        assert!(text.contains(&bucket("0.0005", "deny", 1)), "{text}");
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            text.contains(&format!(r#"agentnet_build_info{{version="{version}"}} 1"#)),
            "{text}"
        );
    }
}
