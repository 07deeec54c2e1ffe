//! Readiness: ready once the policy has synced, the first workload certificate has
//! been published (when the sidecar has a certificate source) and the listeners are
//! bound, and no longer once shutdown begins (so no new traffic is sent while draining).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::identity::CertStore;
use crate::policy_source::PolicyState;

#[derive(Debug)]
pub struct Ready {
    policy: Arc<PolicyState>,
    /// Set when the sidecar has a certificate source: ready only once it has one.
    certificate: Option<Arc<CertStore>>,
    serving: AtomicBool,
    draining: AtomicBool,
}

// === impl Ready ===

impl Ready {
    pub fn new(policy: Arc<PolicyState>) -> Self {
        Ready {
            policy,
            certificate: None,
            serving: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        }
    }

    /// Also waits for the first certificate in `store`.
    pub fn with_certificate(mut self, store: Option<Arc<CertStore>>) -> Self {
        self.certificate = store;
        self
    }

    pub fn serving(&self) {
        self.serving.store(true, Ordering::Release);
    }

    pub fn draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// `Ok` when ready, else why not.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.draining.load(Ordering::Acquire) {
            return Err("shutting down");
        }
        if !self.policy.is_synced() {
            return Err("policy not synced yet");
        }
        if let Some(store) = &self.certificate
            && store.current().is_none()
        {
            return Err("no workload certificate yet");
        }
        if !self.serving.load(Ordering::Acquire) {
            return Err("listeners not started");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use agentnet_policy::{Settings, Snapshot};

    use super::*;
    use crate::policy_source::Publisher;

    #[test]
    fn ready_only_when_synced_and_serving_and_not_draining() {
        let state = PolicyState::new(&Settings::default());
        let ready = Ready::new(state.clone());
        ready.serving();
        assert_eq!(ready.check(), Err("policy not synced yet"));
        Publisher::new(state, Settings::default()).publish(Snapshot::default());
        assert_eq!(ready.check(), Ok(()));
        ready.draining();
        assert_eq!(ready.check(), Err("shutting down"));
    }

    #[test]
    fn with_a_certificate_source_ready_only_once_a_certificate_is_published() {
        use crate::identity::testing::{Ca, ID_A};
        let state = PolicyState::new(&Settings::default());
        let store = CertStore::new();
        let ready = Ready::new(state.clone()).with_certificate(Some(store.clone()));
        ready.serving();
        Publisher::new(state, Settings::default()).publish(Snapshot::default());
        assert_eq!(ready.check(), Err("no workload certificate yet"));
        let ca = Ca::new();
        let (chain, key) = ca.leaf(&[ID_A]);
        let now = std::time::SystemTime::now();
        let svid = crate::identity::Svid::validate(chain, key, ID_A, &ca.roots(), now).unwrap();
        store.publish(svid);
        assert_eq!(ready.check(), Ok(()));
    }
}
