//! Readiness: ready once the policy has synced and the listeners are bound, and no
//! longer once shutdown begins (so no new traffic is sent while draining).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::policy_source::PolicyState;

#[derive(Debug)]
pub struct Ready {
    policy: Arc<PolicyState>,
    serving: AtomicBool,
    draining: AtomicBool,
}

// === impl Ready ===

impl Ready {
    pub fn new(policy: Arc<PolicyState>) -> Self {
        Ready {
            policy,
            serving: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        }
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
}
