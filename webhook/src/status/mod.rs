//! The policy status controller: reports on each XAccessPolicy (one ancestor per
//! target, `Accepted` True/False with the policy crate's reason, and `ResolvedRefs`
//! for an ExternalAuth policy's authorizer), each RateLimitPolicy (likewise) and each
//! XBackend (`Accepted`, `ResolvedRefs`), as `agentnet_policy::compile` judges them.
//!
//! - `stores`: reflectors of XBackend, XAccessPolicy and Service;
//! - `controller`: change → debounce → compile the whole snapshot → write;
//! - `conditions`: pure status building and merging (no change, no write);
//! - `ratelimit`: the same for RateLimitPolicy (agentnet.dev), whose status has
//!   XAccessPolicy's shape;
//! - `programmed`: the `Programmed` condition from the replicas' progress reports;
//! - `writer`: status-subresource patches, only as leader;
//! - `leader`: Lease election, so that of 2 replicas one writes.

mod conditions;
mod controller;
pub mod leader;
pub mod programmed;
mod ratelimit;
pub mod stores;
mod writer;

use std::sync::Arc;

use agentnet_policy::{BackendDefault, Settings};
use kube::{Api, Client};
use tokio::sync::watch;

pub use conditions::{Stamp, backend_status, policy_status};
pub use writer::FIELD_MANAGER;

use self::controller::{Reconciler, Timing};
use self::leader::LeaseSettings;
use self::writer::StatusWriter;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::mutate::tuning::DefaultAction;

/// Everything the controller takes from the webhook.
pub struct StatusController {
    client: Client,
    namespace: String,
    lease: LeaseSettings,
    controller_name: String,
    settings: Settings,
    timing: Timing,
    metrics: Arc<Metrics>,
}

// === impl StatusController ===

impl StatusController {
    pub fn new(config: &Config, client: Client, metrics: Arc<Metrics>) -> Self {
        let s = &config.status;
        Self {
            client,
            namespace: config.namespace.clone(),
            lease: LeaseSettings {
                name: s.lease_name.clone(),
                identity: config.instance.clone(),
                lease_duration: s.lease_duration,
                renew_deadline: s.renew_deadline,
                retry_period: s.retry_period,
            },
            controller_name: s.controller_name.clone(),
            settings: policy_settings(config),
            timing: Timing {
                debounce: s.debounce,
                resync: s.resync,
            },
            metrics,
        }
    }

    /// Elects and writes until `stopped`, from `stores` (driven by the caller, and
    /// `changed` on every event); then releases the Lease.
    pub async fn run(
        self,
        stores: stores::Stores,
        changed: watch::Receiver<u64>,
        stopped: watch::Receiver<bool>,
    ) {
        let (leader_tx, leadership) = leader::channel();
        let leases = Api::namespaced(self.client.clone(), &self.namespace);
        let election = leader::elect(leases, self.lease, leader_tx, stopped.clone());
        let writer = StatusWriter::new(
            self.client,
            self.namespace.clone(),
            self.controller_name,
            leadership.clone(),
            self.metrics.clone(),
        );
        let reconciler = Reconciler {
            progress: stores.progress_changed.clone(),
            stores,
            changed,
            leadership,
            writer,
            settings: self.settings,
            timing: self.timing,
            metrics: self.metrics,
        };
        let work = async {
            tokio::select! {
                () = reconciler.run() => {}
                () = until_stopped(stopped) => {}
            }
        };
        tokio::join!(election, work);
    }
}

/// The sidecars' trust and cluster domains: status must judge policies as they do.
pub fn policy_settings(config: &Config) -> Settings {
    Settings {
        trust_domain: config.sidecar.trust_domain.clone(),
        cluster_domain: config.sidecar.cluster_domain.clone(),
        backend_default: match config.sidecar.backend_default {
            DefaultAction::Allow => BackendDefault::Allow,
            DefaultAction::Deny => BackendDefault::Deny,
        },
    }
}

async fn until_stopped(mut stopped: watch::Receiver<bool>) {
    while !*stopped.borrow_and_update() {
        if stopped.changed().await.is_err() {
            return;
        }
    }
}
