//! `/mutate`: the AdmissionReview envelope around the pure injection decision.
//!
//! `decide` is pure (pod + namespace + config → verdict); `respond` turns a verdict
//! into the AdmissionResponse; `handler` does the I/O (namespace lookup, Events,
//! metrics) and never has side effects on dry-run requests.

pub mod handler;
pub mod inject;
pub mod pod_certificate;
pub mod pointer;
pub mod proxy_env;
pub mod quantity;
pub mod report;
pub mod sidecar;
pub mod skip;
pub mod tuning;

use json_patch::Patch;
use k8s_openapi::api::core::v1::Pod;
use kube::core::admission::{AdmissionRequest, AdmissionResponse};

use crate::config::{Config, SidecarConfig};
use skip::{Exclusions, NamespaceInfo, SkipReason};
use tuning::Tuning;

/// Everything injection needs from the webhook's `Config`.
#[derive(Clone, Debug)]
pub struct MutateConfig {
    pub sidecar: SidecarConfig,
    pub identity_url: String,
    /// The policy service sidecars stream their policy from; `None`: direct-watch mode.
    pub policy_url: Option<String>,
    /// PodCertificate mode: inject the `podCertificate` volume.
    pub pod_certificates: bool,
    pub exclusions: Exclusions,
    pub defaults: Tuning,
}

/// What to do with one pod.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Inject(Patch),
    Skip(SkipReason),
    /// Refuse the pod; the message goes to the user who created it.
    Reject(String),
}

// === impl MutateConfig ===

impl MutateConfig {
    pub fn from_config(config: &Config) -> Self {
        Self {
            sidecar: config.sidecar.clone(),
            identity_url: config.identity_url(),
            policy_url: config.policy_url(),
            pod_certificates: config.identity.enabled
                && config.identity.pod_certificates
                && config.identity.pod_certificate_volumes,
            exclusions: Exclusions {
                release_namespace: config.namespace.clone(),
                extra: config.excluded_namespaces.clone(),
            },
            defaults: Tuning::defaults(&config.sidecar),
        }
    }
}

#[cfg(test)]
impl MutateConfig {
    /// The chart's defaults, as a test fixture.
    pub fn for_test() -> Self {
        Self::from_config(&Config::for_test(&[]))
    }
}

// === impl Verdict ===

impl Verdict {
    /// Metric label for the outcome.
    pub fn result(&self) -> &'static str {
        match self {
            Self::Inject(_) => "injected",
            Self::Skip(_) => "skipped",
            Self::Reject(_) => "rejected",
        }
    }
}

/// The decision for one pod being created in namespace `ns`.
pub fn decide(pod: &Pod, ns: &NamespaceInfo, cfg: &MutateConfig) -> Verdict {
    if let Some(reason) = skip::skip_reason(pod, ns, &cfg.exclusions) {
        return Verdict::Skip(reason);
    }
    let empty = Default::default();
    let annotations = pod.metadata.annotations.as_ref().unwrap_or(&empty);
    let tuning = match cfg.defaults.resolve(annotations, &ns.name, &ns.annotations) {
        Ok(t) => t,
        Err(e) => return Verdict::Reject(format!("agentnet: {e}")),
    };
    match inject::patch(pod, cfg, &tuning) {
        Ok(patch) => Verdict::Inject(patch),
        Err(e) => Verdict::Reject(format!("agentnet: {e}")),
    }
}

/// The AdmissionResponse for `verdict`, echoing the request's uid and types.
pub fn respond(req: &AdmissionRequest<Pod>, verdict: Verdict) -> AdmissionResponse {
    let allowed = AdmissionResponse::from(req);
    match verdict {
        Verdict::Skip(_) => allowed,
        Verdict::Reject(message) => allowed.deny(message),
        Verdict::Inject(patch) => match allowed.with_patch(patch) {
            Ok(response) => response,
            // Fail closed: without the patch the pod would run unmediated.
            Err(e) => {
                AdmissionResponse::from(req).deny(format!("agentnet: cannot encode patch: {e}"))
            }
        },
    }
}

#[cfg(test)]
mod tests;
