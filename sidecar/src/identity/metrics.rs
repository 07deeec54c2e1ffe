//! Metrics of the workload identity and the inbound mTLS listener, registered in the
//! sidecar's registry (so on the admin `/metrics`): renewals by result, the expiry of
//! the certificate in use, the roots trusted, and inbound handshakes by result.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    /// `ok` or `failed`.
    result: &'static str,
}

/// Cheap to clone: every metric is shared.
#[derive(Clone, Debug, Default)]
pub struct IdentityMetrics {
    renewals: Family<ResultLabels, Counter>,
    expiry: Gauge,
    trust_roots: Gauge,
    inbound_handshakes: Family<ResultLabels, Counter>,
}

// === impl IdentityMetrics ===

impl IdentityMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "identity_renewals",
            "Workload certificate renewals (and PodCertificate reloads) by result",
            self.renewals.clone(),
        );
        registry.register(
            "identity_certificate_expiry_timestamp_seconds",
            "notAfter of the workload certificate in use (Unix seconds)",
            self.expiry.clone(),
        );
        registry.register(
            "identity_trust_roots",
            "Roots in the trust bundle in use",
            self.trust_roots.clone(),
        );
        registry.register(
            "inbound_handshakes",
            "mTLS handshakes on the inbound listener by result",
            self.inbound_handshakes.clone(),
        );
    }

    pub fn renewed(&self, not_after: SystemTime) {
        self.renewals
            .get_or_create(&ResultLabels { result: "ok" })
            .inc();
        let secs = not_after
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.expiry.set(i64::try_from(secs).unwrap_or(i64::MAX));
    }

    pub fn renewal_failed(&self) {
        self.renewals
            .get_or_create(&ResultLabels { result: "failed" })
            .inc();
    }

    pub fn trust_roots(&self, roots: usize) {
        self.trust_roots
            .set(i64::try_from(roots).unwrap_or(i64::MAX));
    }

    pub fn handshake(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.inbound_handshakes
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Renewals so far that succeeded (tests and `/identity`).
    pub fn renewals_ok(&self) -> u64 {
        self.renewals
            .get_or_create(&ResultLabels { result: "ok" })
            .get()
    }

    pub fn renewals_failed(&self) -> u64 {
        self.renewals
            .get_or_create(&ResultLabels { result: "failed" })
            .get()
    }
}
