//! The running workload identity: the trust bundle watch and the certificate source
//! (renewal against the identity service, or the PodCertificate file), their shared
//! stores, and the tasks, which stop when this is dropped.

use std::sync::Arc;

use agentnet_policy::Source;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::client::IdentityClient;
use super::metrics::IdentityMetrics;
use super::pod_certificate::PodCertificate;
use super::renew::Renewer;
use super::store::CertStore;
use super::trust::{self, TrustStore};
use crate::config::{CertificateSource, MeshConfig};

#[derive(Debug)]
pub struct Workload {
    pub store: Arc<CertStore>,
    pub trust: Arc<TrustStore>,
    /// The SPIFFE ID every certificate must carry.
    pub expected: String,
    pub source: CertificateSource,
    tasks: Vec<JoinHandle<()>>,
}

// === impl Workload ===

impl Workload {
    /// Starts the identity tasks; `None` in standalone mode (no certificate source) or
    /// without a ServiceAccount identity (which `Config::validate` rules out).
    pub async fn start(
        config: &MeshConfig,
        identity: &Source,
        metrics: IdentityMetrics,
    ) -> Option<Workload> {
        let source = config.certificate_source()?;
        let expected = identity.spiffe_id()?.to_owned();
        let interval = config.identity_poll_interval;
        let path = config.trust_bundle_file.clone();
        let (trust, watch) = trust::start(path, metrics.clone(), interval).await;
        let mut workload = Workload {
            store: CertStore::new(),
            trust,
            expected,
            source,
            tasks: vec![watch],
        };
        let certificates = workload.spawn_source(config, metrics);
        workload.tasks.push(certificates);
        tracing::info!(spiffe.id = %workload.expected, source = ?workload.source, "workload identity started");
        Some(workload)
    }

    /// Renewal against the identity service, or the PodCertificate file's watch.
    fn spawn_source(&self, config: &MeshConfig, metrics: IdentityMetrics) -> JoinHandle<()> {
        let (expected, trust) = (self.expected.clone(), self.trust.clone());
        let store = self.store.clone();
        let Some(url) = self.certify_url() else {
            let path = config.pod_certificate_file.clone().unwrap_or_default();
            let interval = config.identity_poll_interval;
            let source = PodCertificate {
                path,
                expected,
                trust,
                store,
                metrics,
                interval,
            };
            return tokio::spawn(source.run());
        };
        let (token, lifetime) = (config.token_file.clone(), config.cert_lifetime);
        let certifier = IdentityClient::new(url, token, lifetime, trust.clone());
        let renewer = Renewer {
            certifier,
            expected,
            trust,
            store,
            metrics,
        };
        tokio::spawn(renewer.run())
    }

    fn certify_url(&self) -> Option<&str> {
        match &self.source {
            CertificateSource::Certify { url } => Some(url),
            CertificateSource::PodCertificate { .. } => None,
        }
    }

    /// What `/identity` shows: the certificate in use (never its key) and the roots.
    pub fn view(&self) -> Value {
        let source = match &self.source {
            CertificateSource::Certify { url } => json!({"identityService": url}),
            CertificateSource::PodCertificate { file } => json!({"podCertificateFile": file}),
        };
        let rfc3339 = |t| humantime::format_rfc3339_seconds(t).to_string();
        let certificate = self.store.current().map(|svid| {
            json!({
                "spiffeId": svid.spiffe_id(),
                "serial": svid.serial(),
                "notBefore": rfc3339(svid.not_before()),
                "notAfter": rfc3339(svid.not_after()),
                "chainLength": svid.chain().len(),
            })
        });
        json!({
            "expectedSpiffeId": self.expected,
            "source": source,
            "certificate": certificate,
            "renewals": self.store.publishes(),
            "trustRoots": self.trust.load().len(),
        })
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
