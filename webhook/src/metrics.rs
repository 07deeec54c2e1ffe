//! Prometheus metrics of the webhook, served at `/metrics` on the plain-HTTP listener.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabels {
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ViaLabels {
    pub via: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    pub via: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusWriteLabels {
    pub kind: String,
    pub result: String,
}

/// All metric handles; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    admissions: Family<ResultLabels, Counter>,
    skipped: Family<ReasonLabels, Counter>,
    admission_seconds: Histogram,
    conversions: Family<ResultLabels, Counter>,
    serving_cert_expiry: Gauge,
    status_writes: Family<StatusWriteLabels, Counter>,
    compile_generation: Gauge,
    status_leader: Gauge,
    identity: IdentityMetrics,
    distribution: DistributionMetrics,
}

/// The policy service's metrics.
#[derive(Debug, Default)]
struct DistributionMetrics {
    streams: Gauge,
    views_sent: Counter,
    acks: Family<ResultLabels, Counter>,
    refused: Family<ReasonLabels, Counter>,
    generation: Gauge,
}

/// The identity service's metrics.
#[derive(Debug, Default)]
struct IdentityMetrics {
    issued: Family<ViaLabels, Counter>,
    refused: Family<RefusalLabels, Counter>,
    roots: Gauge,
    signer_expiry: Gauge,
    ca_errors: Counter,
    leader: Gauge,
}

// === impl Metrics ===

impl Metrics {
    pub fn new() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("agentnet_webhook"),
            admissions: Family::default(),
            skipped: Family::default(),
            admission_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            conversions: Family::default(),
            serving_cert_expiry: Gauge::default(),
            status_writes: Family::default(),
            compile_generation: Gauge::default(),
            status_leader: Gauge::default(),
            identity: IdentityMetrics::default(),
            distribution: DistributionMetrics::default(),
        };
        metrics.register_all();
        metrics.register_build();
        metrics.register_identity();
        metrics.register_distribution();
        metrics
    }

    fn register_all(&mut self) {
        let r = &mut self.registry;
        r.register(
            "admissions",
            "Pod admissions by result",
            self.admissions.clone(),
        );
        r.register(
            "injection_skipped",
            "Pods admitted without a sidecar, by reason",
            self.skipped.clone(),
        );
        r.register(
            "admission_duration_seconds",
            "Time to answer an AdmissionReview",
            self.admission_seconds.clone(),
        );
        r.register(
            "conversions",
            "CRD conversion reviews by result",
            self.conversions.clone(),
        );
        let expiry = "When the serving certificate in use expires (Unix time)";
        r.register(
            "serving_cert_expiry_timestamp_seconds",
            expiry,
            self.serving_cert_expiry.clone(),
        );
        self.register_status();
    }

    fn register_build(&mut self) {
        let build = Family::<VersionLabels, Gauge>::default();
        let labels = VersionLabels {
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        build.get_or_create(&labels).set(1);
        let help = "The running agentnet-webhook's version (always 1)";
        self.registry.register("build_info", help, build);
    }

    fn register_identity(&mut self) {
        let (r, m) = (&mut self.registry, &self.identity);
        let issued = "Workload certificates issued, by path (certify or pod_certificate)";
        r.register("identity_certificates_issued", issued, m.issued.clone());
        let refused = "Certificate requests refused, by path and reason";
        r.register("identity_certificates_refused", refused, m.refused.clone());
        r.register(
            "identity_ca_roots",
            "Trusted identity roots in the bundle",
            m.roots.clone(),
        );
        let expiry = "When the signing identity CA (or a CA above it) expires (Unix time)";
        r.register(
            "identity_signer_expiry_timestamp_seconds",
            expiry,
            m.signer_expiry.clone(),
        );
        let errors = "Loads of the identity CA Secret that failed validation";
        r.register("identity_ca_load_errors", errors, m.ca_errors.clone());
        let leader =
            "1 while this replica holds the identity Lease (bundles, PodCertificateRequests)";
        r.register("identity_leader", leader, m.leader.clone());
    }

    fn register_distribution(&mut self) {
        let (r, m) = (&mut self.registry, &self.distribution);
        let streams = "Sidecars connected to this replica's policy service";
        r.register("policy_streams", streams, m.streams.clone());
        let sent = "Views sent to sidecars (a first view, or a change of the caller's view)";
        r.register("policy_views_sent", sent, m.views_sent.clone());
        let acks = "Views acknowledged by sidecars, by result (applied, rejected, unknown_session)";
        r.register("policy_view_acks", acks, m.acks.clone());
        let refused = "Policy stream requests refused, by reason";
        r.register("policy_stream_refused", refused, m.refused.clone());
        let generation = "Generation of the cluster snapshot the policy service serves";
        r.register(
            "policy_distribution_generation",
            generation,
            m.generation.clone(),
        );
    }

    pub fn policy_streams(&self, delta: i64) {
        self.distribution.streams.inc_by(delta);
    }

    pub fn policy_view_sent(&self) {
        self.distribution.views_sent.inc();
    }

    pub fn policy_view_ack(&self, result: &str) {
        let labels = ResultLabels {
            result: result.into(),
        };
        self.distribution.acks.get_or_create(&labels).inc();
    }

    pub fn policy_stream_refused(&self, reason: &str) {
        let labels = ReasonLabels {
            reason: reason.into(),
        };
        self.distribution.refused.get_or_create(&labels).inc();
    }

    pub fn policy_distribution_generation(&self, generation: u64) {
        self.distribution
            .generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
    }

    fn register_status(&mut self) {
        let r = &mut self.registry;
        r.register(
            "status_writes",
            "Status patches by the policy status controller, by kind and result",
            self.status_writes.clone(),
        );
        r.register(
            "policy_compile_generation",
            "Generation of the policy index the status controller last compiled",
            self.compile_generation.clone(),
        );
        r.register(
            "status_leader",
            "1 while this replica holds the status Lease and writes status",
            self.status_leader.clone(),
        );
    }

    pub fn admission(&self, result: &str, seconds: f64) {
        self.admissions
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
        self.admission_seconds.observe(seconds);
    }

    pub fn skipped(&self, reason: &str) {
        self.skipped
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
            })
            .inc();
    }

    pub fn conversion(&self, result: &str) {
        self.conversions
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }

    pub fn serving_cert_expires_at(&self, unix_seconds: i64) {
        self.serving_cert_expiry.set(unix_seconds);
    }

    /// `result`: written, conflict or error.
    pub fn status_write(&self, kind: &str, result: &str) {
        let labels = StatusWriteLabels {
            kind: kind.into(),
            result: result.into(),
        };
        self.status_writes.get_or_create(&labels).inc();
    }

    pub fn compiled(&self, generation: u64) {
        self.compile_generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
    }

    pub fn status_leader(&self, leader: bool) {
        self.status_leader.set(i64::from(leader));
    }

    /// `via`: certify or pod_certificate.
    pub fn identity_issued(&self, via: &str) {
        let labels = ViaLabels { via: via.into() };
        self.identity.issued.get_or_create(&labels).inc();
    }

    pub fn identity_refused(&self, via: &str, reason: &str) {
        let labels = RefusalLabels {
            via: via.into(),
            reason: reason.into(),
        };
        self.identity.refused.get_or_create(&labels).inc();
    }

    /// A CA pool was loaded: its root count and the signer's expiry.
    pub fn identity_ca(&self, roots: usize, signer_not_after: i64) {
        self.identity
            .roots
            .set(i64::try_from(roots).unwrap_or(i64::MAX));
        self.identity.signer_expiry.set(signer_not_after);
    }

    pub fn identity_ca_error(&self) {
        self.identity.ca_errors.inc();
    }

    pub fn identity_leader(&self, leader: bool) {
        self.identity.leader.set(i64::from(leader));
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
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
    use super::*;

    #[test]
    fn exposes_skips_by_reason_and_admissions_by_result() {
        let m = Metrics::new();
        m.admission("injected", 0.001);
        m.skipped("host_network");
        m.skipped("host_network");
        let text = m.encode().unwrap();
        assert!(
            text.contains("agentnet_webhook_injection_skipped_total{reason=\"host_network\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("agentnet_webhook_admissions_total{result=\"injected\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("agentnet_webhook_admission_duration_seconds_count 1"),
            "{text}"
        );
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            text.contains(&format!(
                r#"agentnet_webhook_build_info{{version="{version}"}} 1"#
            )),
            "{text}"
        );
    }

    #[test]
    fn exposes_status_writes_generation_and_leadership() {
        let m = Metrics::new();
        m.status_write("XAccessPolicy", "written");
        m.compiled(7);
        m.status_leader(true);
        let text = m.encode().unwrap();
        let written =
            r#"agentnet_webhook_status_writes_total{kind="XAccessPolicy",result="written"} 1"#;
        assert!(text.contains(written), "{text}");
        assert!(
            text.contains("agentnet_webhook_policy_compile_generation 7"),
            "{text}"
        );
        assert!(text.contains("agentnet_webhook_status_leader 1"), "{text}");
    }

    #[test]
    fn exposes_identity_issuance_and_refusals() {
        let m = Metrics::new();
        m.identity_issued("certify");
        m.identity_refused("certify", "forbidden");
        m.identity_ca(2, 1_900_000_000);
        let text = m.encode().unwrap();
        for line in [
            r#"agentnet_webhook_identity_certificates_issued_total{via="certify"} 1"#,
            r#"agentnet_webhook_identity_certificates_refused_total{via="certify",reason="forbidden"} 1"#,
            "agentnet_webhook_identity_ca_roots 2",
            "agentnet_webhook_identity_signer_expiry_timestamp_seconds 1900000000",
        ] {
            assert!(text.contains(line), "{line} missing: {text}");
        }
    }
}
