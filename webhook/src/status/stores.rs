//! The control plane's view of the cluster, shared by the status controller and the
//! policy service: reflectors of XBackend, XAccessPolicy (v1alpha1, whatever version it
//! was written in), Service, EndpointSlice, RateLimitPolicy and ReferenceGrant (Gateway
//! API's CRD, which may be missing: the first pass does not wait for it), in all
//! namespaces, once per replica.
//!
//! Each watch is one chain: `watcher(..).backoff(fast).modify(strip).reflect(w)`, with
//! the short backoff of `watch_backoff` (back within a second of an API-server restart)
//! on a client that does not wait out a starting API server's Retry-After (`app`).
//! Objects are read through `DeserializeGuard`, so one malformed object is logged and
//! skipped instead of ending the watch. Every event bumps a counter the controller
//! waits on. No condition depends on EndpointSlices; the policy service sends those of
//! the Services that XBackends and authorizers name.

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::Arc;

use agentnet_api::agentnet_dev::RateLimitPolicy;
use agentnet_api::reference_grant::ReferenceGrant;
use agentnet_api::v0alpha0::XBackend;
use agentnet_api::v1alpha1::XAccessPolicy;
use agentnet_policy::Snapshot;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::DefaultBackoff;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::distribution::progress::Progress;
use crate::watch_backoff::fast;

/// The label by which an EndpointSlice names its Service.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Annotation that repeats the whole object; nothing here reads it.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Read-only caches of the watched objects.
#[derive(Clone)]
pub struct Stores {
    pub backends: Store<DeserializeGuard<XBackend>>,
    pub policies: Store<DeserializeGuard<XAccessPolicy>>,
    pub services: Store<DeserializeGuard<Service>>,
    pub slices: Store<DeserializeGuard<EndpointSlice>>,
    pub rate_limits: Store<DeserializeGuard<RateLimitPolicy>>,
    pub grants: Store<DeserializeGuard<ReferenceGrant>>,
    /// The replicas' policy progress reports, in the release namespace.
    pub progress: Store<DeserializeGuard<ConfigMap>>,
    /// Counts events of `progress` only (not `changed`'s).
    pub progress_changed: watch::Receiver<u64>,
}

/// Starts the reflectors: the stores, and the future that drives the watches (it runs
/// until dropped; a failing watch backs off and retries). `changed` counts events.
pub fn start(
    client: &Client,
    namespace: &str,
    changed: watch::Sender<u64>,
) -> (Stores, BoxFuture<'static, ()>) {
    let changed = Arc::new(changed);
    let all = watcher::Config::default();
    let (backends, b) = reflect::<XBackend>(Api::all(client.clone()), &all, &changed, fast());
    let (policies, p) = reflect::<XAccessPolicy>(Api::all(client.clone()), &all, &changed, fast());
    let (services, s) = reflect::<Service>(Api::all(client.clone()), &all, &changed, fast());
    let (slices, e) = reflect::<EndpointSlice>(Api::all(client.clone()), &all, &changed, fast());
    let (rate_limits, r) =
        reflect::<RateLimitPolicy>(Api::all(client.clone()), &all, &changed, fast());
    // Gateway API's CRD may be absent for good: retried at kube's default pace, not
    // a few times a second.
    let grants_backoff = DefaultBackoff::default();
    let (grants, g) =
        reflect::<ReferenceGrant>(Api::all(client.clone()), &all, &changed, grants_backoff);
    let reports = watcher::Config::default().labels(crate::distribution::progress::LABEL);
    // Their own counter: a renewal every 10 s must not make the policy service cut a
    // snapshot or the status controller recompile.
    let (progress_tx, progress_changed) = watch::channel(0);
    let (progress, pr) = reflect::<ConfigMap>(
        Api::namespaced(client.clone(), namespace),
        &reports,
        &Arc::new(progress_tx),
        fast(),
    );
    let drive = async move {
        tokio::join!(b, p, s, e, r, g, pr);
    };
    let stores = Stores {
        backends,
        policies,
        services,
        slices,
        rate_limits,
        grants,
        progress,
        progress_changed,
    };
    (stores, drive.boxed())
}

fn reflect<K>(
    api: Api<DeserializeGuard<K>>,
    config: &watcher::Config,
    changed: &Arc<watch::Sender<u64>>,
    backoff: impl Backoff + 'static,
) -> (Store<DeserializeGuard<K>>, BoxFuture<'static, ()>)
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let kind = K::kind(&());
    let changed = changed.clone();
    let events = watcher(api, config.clone())
        .backoff(backoff)
        .modify(|o: &mut DeserializeGuard<K>| strip(o.meta_mut()))
        .reflect(writer);
    let drive = events.for_each(move |event| {
        match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                report_invalid(&kind, &o);
                changed.send_modify(|n| *n = n.wrapping_add(1));
            }
            Ok(_) => changed.send_modify(|n| *n = n.wrapping_add(1)),
            // 410 Gone: the watch fell behind and relists; nothing is lost.
            Err(watcher::Error::WatchError(s)) if s.code == 410 => {
                tracing::debug!(kind = %kind, "watch expired; relisting");
            }
            Err(e) => tracing::warn!(kind = %kind, error = %e, "watch failed; retrying"),
        }
        futures::future::ready(())
    });
    (store, drive.boxed())
}

fn strip(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

fn report_invalid<K>(kind: &str, o: &DeserializeGuard<K>) {
    if let Err(e) = &o.0 {
        let (ns, name) = (e.metadata.namespace.as_deref(), e.metadata.name.as_deref());
        let error = e.error.as_str();
        tracing::warn!(
            kind,
            namespace = ns,
            name,
            error,
            "skipping an object that does not parse"
        );
    }
}

// === impl Stores ===

impl Stores {
    /// Resolves once every store holds a complete first list.
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.backends.wait_until_ready().await?;
        self.policies.wait_until_ready().await?;
        self.rate_limits.wait_until_ready().await?;
        self.slices.wait_until_ready().await?;
        self.services.wait_until_ready().await
    }

    /// What the status controller compiles: the valid objects, and only the Services
    /// XBackends and ExternalAuth authorizers name.
    pub fn snapshot(&self) -> Snapshot {
        let backends: Vec<XBackend> = valid(&self.backends);
        let policies: Vec<XAccessPolicy> = valid(&self.policies);
        let mut named: HashSet<(String, String)> = backends.iter().filter_map(service_of).collect();
        named.extend(policies.iter().filter_map(authorizer_of));
        let services = self.services.state().into_iter().filter_map(|s| {
            let s = s.0.as_ref().ok()?;
            let key = (s.namespace()?, s.name_any());
            named.contains(&key).then(|| s.clone())
        });
        Snapshot {
            backends,
            policies,
            services: services.collect(),
            endpoint_slices: Vec::new(),
            rate_limits: valid(&self.rate_limits),
            reference_grants: valid(&self.grants),
        }
    }

    /// What sidecars enforce: [`Stores::snapshot`] and the EndpointSlices of its
    /// Services. Nothing else of the cluster's Services and EndpointSlices.
    pub fn distribution_snapshot(&self) -> Snapshot {
        let mut snapshot = self.snapshot();
        let named: HashSet<(String, String)> = snapshot
            .services
            .iter()
            .filter_map(|s| Some((s.namespace()?, s.name_any())))
            .collect();
        snapshot.endpoint_slices = self
            .slices
            .state()
            .into_iter()
            .filter_map(|e| {
                let e = e.0.as_ref().ok()?;
                let service = e.labels().get(SERVICE_NAME_LABEL)?;
                named
                    .contains(&(e.namespace()?, service.clone()))
                    .then(|| e.clone())
            })
            .collect();
        snapshot
    }

    /// The replicas' progress reports that parse, by ConfigMap name.
    pub fn progress_reports(&self) -> Vec<(String, Progress)> {
        self.progress
            .state()
            .iter()
            .filter_map(|cm| {
                let cm = cm.0.as_ref().ok()?;
                let data = cm.data.as_ref()?.get(crate::distribution::progress::KEY)?;
                Some((cm.name_any(), serde_json::from_str(data).ok()?))
            })
            .collect()
    }

    pub fn policy(&self, namespace: &str, name: &str) -> Option<XAccessPolicy> {
        let key = ObjectRef::new(name).within(namespace);
        self.policies
            .get(&key)
            .and_then(|o| o.0.as_ref().ok().cloned())
    }

    pub fn rate_limit(&self, namespace: &str, name: &str) -> Option<RateLimitPolicy> {
        let key = ObjectRef::new(name).within(namespace);
        self.rate_limits
            .get(&key)
            .and_then(|o| o.0.as_ref().ok().cloned())
    }

    pub fn backend(&self, namespace: &str, name: &str) -> Option<XBackend> {
        let key = ObjectRef::new(name).within(namespace);
        self.backends
            .get(&key)
            .and_then(|o| o.0.as_ref().ok().cloned())
    }
}

fn valid<K: Clone>(store: &Store<DeserializeGuard<K>>) -> Vec<K>
where
    DeserializeGuard<K>: Resource<DynamicType = ()> + Clone,
{
    let all = store.state();
    all.iter()
        .filter_map(|o| o.0.as_ref().ok().cloned())
        .collect()
}

/// The (namespace, Service name) of an ExternalAuth policy's authorizer, if any.
fn authorizer_of(p: &XAccessPolicy) -> Option<(String, String)> {
    let r = &p.spec.external_auth.as_ref()?.backend_ref;
    let namespace = r.namespace.clone().or_else(|| p.namespace())?;
    Some((namespace, r.name.clone()))
}

/// The (namespace, Service name) an XBackend points at, if any.
pub(crate) fn service_of(b: &XBackend) -> Option<(String, String)> {
    let spec = &b.spec;
    let name = spec.mcp.as_ref().and_then(|m| m.service_name.clone());
    let name = name.or_else(|| spec.a2a.as_ref().and_then(|a| a.service_name.clone()))?;
    Some((b.namespace()?, name))
}

#[cfg(test)]
mod tests;
