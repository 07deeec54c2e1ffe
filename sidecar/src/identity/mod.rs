//! The agent's own identity: the source of every request it makes, and its workload
//! certificate. Without a certificate source (standalone mode) the identity comes from
//! configuration (`--spiffe-id`, or namespace and ServiceAccount). With one (the
//! identity service, or a PodCertificate file) the sidecar holds an X.509-SVID whose
//! only URI SAN must be `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`:
//! a certificate naming anything else is never published, so the source that policy
//! decides on is the certificate's identity. `csr` makes keys and CSRs, `client` asks
//! the identity service, `renew` schedules, `store` validates and publishes,
//! `pod_certificate` reads the kubelet's file, `trust` watches the trust bundle.

use std::sync::Arc;

use agentnet_policy::Source;

pub mod client;
pub mod csr;
mod files;
pub mod metrics;
pub mod pod_certificate;
pub mod renew;
pub mod store;
pub mod trust;
pub mod verify;
pub mod workload;

#[cfg(test)]
pub(crate) mod testing;

pub use store::{CertStore, Resolver, Svid};
pub use trust::{Roots, TrustStore};
pub use workload::Workload;

#[derive(Clone, Debug)]
pub struct LocalIdentity {
    source: Source,
    /// How audit records and logs name the source.
    label: Arc<str>,
    namespace: String,
}

// === impl LocalIdentity ===

impl LocalIdentity {
    /// `namespace` defaults to the SPIFFE ID's namespace, then `default`.
    pub fn new(source: Source, namespace: Option<String>) -> Self {
        let namespace = namespace
            .or_else(|| source.namespace().map(str::to_owned))
            .unwrap_or_else(|| "default".to_owned());
        LocalIdentity {
            label: source.to_string().into(),
            source,
            namespace,
        }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn label(&self) -> Arc<str> {
        self.label.clone()
    }

    /// The namespace short Service names resolve in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_comes_from_the_flag_then_the_spiffe_id() {
        let sa = Source::service_account("cluster.local", "agents", "a").unwrap();
        assert_eq!(LocalIdentity::new(sa.clone(), None).namespace(), "agents");
        assert_eq!(
            LocalIdentity::new(sa, Some("other".into())).namespace(),
            "other"
        );
        let anonymous = LocalIdentity::new(Source::anonymous(), None);
        assert_eq!(
            (anonymous.namespace(), &*anonymous.label()),
            ("default", "an anonymous caller")
        );
    }
}
