//! Kubernetes mode: reflectors of XBackend, XAccessPolicy (v1alpha1), Service and
//! EndpointSlice, RateLimitPolicy and ReferenceGrant in all namespaces feed one writer
//! task. ReferenceGrant is Gateway API's CRD and may be missing: the first sync does
//! not wait for it (until it lists, no cross-namespace authorizer is permitted). Events mark the snapshot
//! dirty, bursts coalesce, and the whole index is rebuilt and published. When the
//! API server goes away the stores (and so the index) keep their last state, and the
//! watches retry with backoff.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agentnet_api::agentnet_dev::RateLimitPolicy;
use agentnet_api::reference_grant::ReferenceGrant;
use agentnet_api::v0alpha0::XBackend;
use agentnet_api::v1alpha1::XAccessPolicy;
use agentnet_policy::Snapshot;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tracing::Instrument;

use super::publish::{Problem, Publisher};

/// A burst of events within this window becomes one rebuild.
const COALESCE: Duration = Duration::from_millis(100);

struct Stores {
    backends: Store<DeserializeGuard<XBackend>>,
    policies: Store<DeserializeGuard<XAccessPolicy>>,
    services: Store<DeserializeGuard<Service>>,
    slices: Store<DeserializeGuard<EndpointSlice>>,
    rate_limits: Store<DeserializeGuard<RateLimitPolicy>>,
    grants: Store<DeserializeGuard<ReferenceGrant>>,
}

/// Starts the watches and returns the writer task, which runs forever.
pub fn run(client: Client, publisher: Publisher) -> impl Future<Output = ()> {
    let dirty = Arc::new(Notify::new());
    let stores = Stores {
        backends: watch(&client, &dirty),
        policies: watch(&client, &dirty),
        services: watch(&client, &dirty),
        slices: watch(&client, &dirty),
        rate_limits: watch(&client, &dirty),
        grants: watch(&client, &dirty),
    };
    write(stores, publisher, dirty).instrument(tracing::info_span!("policy_writer"))
}

/// One reflector, its stream driven by its own task; every event marks the snapshot
/// dirty. A malformed object is kept as an error in the store, never ends the watch.
fn watch<K>(client: &Client, dirty: &Arc<Notify>) -> Store<DeserializeGuard<K>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let api = Api::<DeserializeGuard<K>>::all(client.clone());
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(drop_managed_fields)
        .reflect(writer);
    let span = tracing::info_span!("watch", kind = %K::kind(&()));
    tokio::spawn(mark_dirty(stream, dirty.clone()).instrument(span));
    reader
}

fn drop_managed_fields<K: Resource>(guard: &mut DeserializeGuard<K>) {
    if let Ok(object) = &mut guard.0 {
        object.managed_fields_mut().clear();
    }
}

/// Drives a watch; errors are retried by its backoff, the stores keep their state.
async fn mark_dirty<S, T, E>(stream: S, dirty: Arc<Notify>)
where
    S: futures::Stream<Item = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(_) => dirty.notify_one(),
            Err(e) => tracing::warn!(error = %e, "watch failed; keeping the last policy, retrying"),
        }
    }
}

async fn write(stores: Stores, publisher: Publisher, dirty: Arc<Notify>) {
    let ready = futures::future::try_join5(
        stores.backends.wait_until_ready(),
        stores.policies.wait_until_ready(),
        stores.services.wait_until_ready(),
        stores.slices.wait_until_ready(),
        stores.rate_limits.wait_until_ready(),
    );
    if let Err(e) = ready.await {
        return tracing::error!(error = %e, "a policy watch stopped before its first sync");
    }
    tracing::info!("policy watches synced");
    let (mut stores, mut publisher) = (Arc::new(stores), publisher);
    loop {
        (stores, publisher) = match rebuild(stores, publisher).await {
            Some(both) => both,
            None => return tracing::error!("policy rebuild panicked; keeping the last policy"),
        };
        dirty.notified().await;
        tokio::time::sleep(COALESCE).await;
    }
}

/// Snapshots the stores and publishes a new index, on the blocking pool: compiling a
/// large policy set is CPU work no request should wait behind.
async fn rebuild(
    stores: Arc<Stores>,
    mut publisher: Publisher,
) -> Option<(Arc<Stores>, Publisher)> {
    let work = tokio::task::spawn_blocking(move || {
        let (snapshot, problems) = stores.snapshot();
        publisher.report(problems);
        if publisher.publish(snapshot) {
            tracing::info!(
                generation = publisher.state().generation(),
                "policy index published"
            );
        }
        (stores, publisher)
    });
    work.await.ok()
}

// === impl Stores ===

impl Stores {
    fn snapshot(&self) -> (Snapshot, Vec<Problem>) {
        let mut problems = Vec::new();
        let snapshot = Snapshot {
            backends: valid(&self.backends, &mut problems),
            policies: valid(&self.policies, &mut problems),
            services: valid(&self.services, &mut problems),
            endpoint_slices: valid(&self.slices, &mut problems),
            rate_limits: valid(&self.rate_limits, &mut problems),
            reference_grants: valid(&self.grants, &mut problems),
        };
        (snapshot, problems)
    }
}

/// The objects that deserialized; the others become problems (a malformed
/// XAccessPolicy cannot be attached to its targets, so it is reported, not guessed at).
fn valid<K>(store: &Store<DeserializeGuard<K>>, problems: &mut Vec<Problem>) -> Vec<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + 'static,
{
    let mut out = Vec::new();
    for guard in store.state() {
        match &guard.0 {
            Ok(object) => out.push(object.clone()),
            Err(invalid) => {
                let name = format!(
                    "{}/{}",
                    invalid.metadata.namespace.as_deref().unwrap_or_default(),
                    invalid.metadata.name.as_deref().unwrap_or_default()
                );
                problems.push(Problem {
                    source: format!("{} {name}", K::kind(&())),
                    message: invalid.error.clone(),
                });
            }
        }
    }
    out
}
