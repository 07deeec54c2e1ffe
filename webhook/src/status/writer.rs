//! Writes a compiled report's statuses through the status subresource: only as leader,
//! only what changed, each JSON merge patch conditional on the resourceVersion read
//! (so another controller's concurrent ancestor is never overwritten: we get a
//! conflict and re-read instead).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use agentnet_api::agentnet_dev::RateLimitPolicy;
use agentnet_api::v0alpha0::XBackend;
use agentnet_api::v1alpha1::XAccessPolicy;
use agentnet_policy::Report;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::conditions::{Stamp, backend_status, policy_status_with};
use super::leader::Leadership;
use super::programmed;
use super::ratelimit::rate_limit_status;
use super::stores::Stores;
use crate::distribution::sessions::unix_now;
use crate::metrics::Metrics;

/// The field manager of our status patches.
pub const FIELD_MANAGER: &str = "agentnet-policy-controller";

/// An object by kind, namespace and name.
type Key = (&'static str, String, String);

pub struct StatusWriter {
    client: Client,
    /// The release namespace: where the replicas' progress reports are.
    namespace: String,
    controller_name: String,
    leadership: Leadership,
    metrics: Arc<Metrics>,
    /// Per object, the resourceVersion our last write was based on and the status it
    /// wrote: while the store still shows that version (our write's watch event has not
    /// arrived yet), the same status is not written again.
    pending: HashMap<Key, (String, Value)>,
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub written: usize,
    /// A write failed or conflicted: try again soon even if nothing changes.
    pub retry: bool,
    /// Leadership was lost during the pass; the rest was left alone.
    pub stopped: bool,
}

// === impl StatusWriter ===

impl StatusWriter {
    pub fn new(
        client: Client,
        namespace: String,
        controller_name: String,
        leadership: Leadership,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            client,
            namespace,
            controller_name,
            leadership,
            metrics,
            pending: HashMap::new(),
        }
    }

    /// Brings every reported object's status up to date.
    pub async fn write(&mut self, report: &Report, stores: &Stores) -> Pass {
        self.forget_observed(stores);
        let controller_name = self.controller_name.clone();
        let stamp = Stamp {
            controller_name: &controller_name,
            now: now_in_seconds(),
        };
        let mut pass = Pass::default();
        let reports = stores.progress_reports();
        let now = unix_now();
        let programmed = programmed::conditions(report, &reports, now);
        self.remove_expired(&programmed::expired(&reports, now))
            .await;
        for p in &report.policies {
            let Some(obj) = stores.policy(&p.policy.namespace, &p.policy.name) else {
                continue;
            };
            let programmed = programmed.get(&p.policy);
            if let Some(status) = policy_status_with(p, obj.status.as_ref(), &stamp, programmed) {
                self.patch(&obj, json!(status), &mut pass).await;
            }
        }
        for r in &report.rate_limits {
            let Some(obj) = stores.rate_limit(&r.policy.namespace, &r.policy.name) else {
                continue;
            };
            if let Some(status) = rate_limit_status(r, obj.status.as_ref(), &stamp) {
                self.patch(&obj, json!(status), &mut pass).await;
            }
        }
        for b in &report.backends {
            let Some(obj) = stores.backend(&b.backend.namespace, &b.backend.name) else {
                continue;
            };
            if let Some(status) = backend_status(b, obj.status.as_ref(), &stamp) {
                self.patch(&obj, json!(status), &mut pass).await;
            }
        }
        pass
    }

    /// Deletes the progress reports of replicas long gone (as leader only).
    async fn remove_expired(&self, names: &[String]) {
        if names.is_empty() || !self.leadership.is_leader() {
            return;
        }
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        for name in names {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {
                    tracing::info!(configmap = %name, "removed the progress report of a replica gone")
                }
                Err(e) => {
                    tracing::debug!(configmap = %name, error = %e, "removing a stale progress report")
                }
            }
        }
    }

    /// Drops pending entries whose object the store has seen change since (or lost).
    fn forget_observed(&mut self, stores: &Stores) {
        self.pending.retain(|(kind, ns, name), (rv, _)| {
            let current = match *kind {
                "XAccessPolicy" => stores.policy(ns, name).map(|o| o.resource_version()),
                "RateLimitPolicy" => stores.rate_limit(ns, name).map(|o| o.resource_version()),
                _ => stores.backend(ns, name).map(|o| o.resource_version()),
            };
            current.flatten().as_ref() == Some(rv)
        });
    }

    async fn patch<K>(&mut self, obj: &K, status: Value, pass: &mut Pass)
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
        K: Clone + Debug + DeserializeOwned,
    {
        let key = (
            kind_of::<K>(),
            obj.namespace().unwrap_or_default(),
            obj.name_any(),
        );
        let rv = obj.resource_version().unwrap_or_default();
        let written = (rv, status);
        if pass.stopped || self.pending.get(&key) == Some(&written) {
            return;
        }
        if !self.leadership.is_leader() {
            pass.stopped = true;
            return;
        }
        let Some(outcome) = self.send::<K>(&key, &written).await else {
            return;
        };
        self.metrics.status_write(key.0, outcome);
        if outcome == "written" {
            self.pending.insert(key, written);
            pass.written += 1;
        } else {
            pass.retry = true;
        }
    }

    /// One conditional merge patch: `written`, `conflict` or `error`; None when the
    /// object is gone.
    async fn send<K>(&self, key: &Key, (rv, status): &(String, Value)) -> Option<&'static str>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
        K: Clone + Debug + DeserializeOwned,
    {
        let (kind, ns, name) = key;
        let body = json!({"metadata": {"resourceVersion": rv}, "status": status});
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        let outcome = match api.patch_status(name, &pp, &Patch::Merge(&body)).await {
            Ok(_) => "written",
            // A newer version is on its way through the watch; so is a deletion.
            Err(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Err(kube::Error::Api(s)) if s.code == 404 => return None,
            Err(e) => {
                tracing::warn!(kind, namespace = %ns, name = %name, error = %e, "cannot write status");
                "error"
            }
        };
        tracing::debug!(kind, namespace = %ns, name = %name, outcome, "status patch");
        Some(outcome)
    }
}

/// Now, to the second: what the API server keeps of a `Time`.
fn now_in_seconds() -> Time {
    let now = Timestamp::now();
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

fn kind_of<K: Resource<DynamicType = ()>>() -> &'static str {
    if K::kind(&()) == XBackend::kind(&()) {
        "XBackend"
    } else if K::kind(&()) == XAccessPolicy::kind(&()) {
        "XAccessPolicy"
    } else if K::kind(&()) == RateLimitPolicy::kind(&()) {
        "RateLimitPolicy"
    } else {
        "Unknown"
    }
}

#[cfg(test)]
mod tests;
