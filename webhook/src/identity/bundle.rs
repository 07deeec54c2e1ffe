//! Trust-bundle distribution: the leader keeps the ConfigMap
//! `agentnet-trust-bundle` (key `ca-bundle.pem`, every trusted root) in each namespace
//! labelled `agentnet.dev/inject=enabled`, and in PodCertificate mode the
//! ClusterTrustBundle of the `agentnet.dev/identity` signer.
//!
//! It writes on a namespace appearing, on the CAs changing, on gaining leadership and
//! on every resync (which repairs edited or deleted ConfigMaps; ConfigMaps themselves
//! are not watched, which would need list/watch on every ConfigMap in the cluster).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use agentnet_api::contract::{self, identity::SIGNER_NAME};
use futures::StreamExt;
use k8s_openapi::api::certificates::v1::{ClusterTrustBundle, ClusterTrustBundleSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use tokio::sync::watch;

use super::PoolRx;
use crate::metrics::Metrics;
use crate::status::leader::Leadership;

/// The ClusterTrustBundle name: the signer name with `/` as `:`, then a suffix.
pub const CLUSTER_TRUST_BUNDLE: &str = "agentnet.dev:identity:roots";
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "agentnet-webhook");
/// How soon failed writes are retried when nothing else happens.
const RETRY_AFTER: Duration = Duration::from_secs(5);

pub struct Distributor {
    client: Client,
    resync: Duration,
    cluster_trust_bundle: bool,
}

// === impl Distributor ===

impl Distributor {
    pub fn new(client: &Client, resync: Duration, cluster_trust_bundle: bool) -> Self {
        Self {
            client: client.clone(),
            resync,
            cluster_trust_bundle,
        }
    }

    /// Watches opted-in namespaces and writes bundles while leading, until `stopped`.
    pub async fn run(
        self,
        pool: PoolRx,
        leadership: Leadership,
        metrics: std::sync::Arc<Metrics>,
        mut stopped: watch::Receiver<bool>,
    ) {
        let (store, writer) = reflector::store();
        let (changed_tx, changed) = watch::channel(0u64);
        let selector = format!("{}={}", contract::INJECT_LABEL, contract::INJECT_ENABLED);
        let api: Api<Namespace> = Api::all(self.client.clone());
        let events = watcher(api, watcher::Config::default().labels(&selector))
            .backoff(crate::watch_backoff::fast())
            .modify(|ns: &mut Namespace| ns.meta_mut().managed_fields = None)
            .reflect(writer)
            .for_each(|event| {
                if let Err(e) = event {
                    tracing::warn!(error = %e, "watching opted-in namespaces failed; retrying");
                }
                changed_tx.send_modify(|n| *n = n.wrapping_add(1));
                futures::future::ready(())
            });
        let work = self.distribute(store, changed, pool, leadership, metrics);
        tokio::select! {
            () = events => tracing::error!("the namespace watch ended"),
            () = work => {}
            _ = stopped.wait_for(|stop| *stop) => {}
        }
    }

    async fn distribute(
        &self,
        store: Store<Namespace>,
        mut changed: watch::Receiver<u64>,
        mut pool: PoolRx,
        mut leadership: Leadership,
        metrics: std::sync::Arc<Metrics>,
    ) {
        if store.wait_until_ready().await.is_err() {
            return;
        }
        // What each namespace ("" for the ClusterTrustBundle) was last given.
        let mut written: HashMap<String, String> = HashMap::new();
        loop {
            let leader = leadership.is_leader();
            metrics.identity_leader(leader);
            let current = pool.borrow_and_update().clone().filter(|_| leader);
            let ok = self.round(&store, current, &mut written).await;
            tokio::select! {
                c = changed.changed() => if c.is_err() { return },
                c = pool.changed() => if c.is_err() { return },
                c = leadership.changed() => if c.is_err() { return },
                () = retry_unless(ok) => {}
                () = tokio::time::sleep(self.resync) => written.clear(),
            }
        }
    }

    /// One pass: write while leading with CAs loaded; otherwise forget what was written,
    /// so that leading again rewrites everything.
    async fn round(
        &self,
        store: &Store<Namespace>,
        pool: Option<std::sync::Arc<super::ca::CaPool>>,
        written: &mut HashMap<String, String>,
    ) -> bool {
        match pool {
            Some(pool) => self.sync(store, pool.trust_bundle(), written).await,
            None => {
                written.clear();
                true
            }
        }
    }

    /// Writes the bundle where it is missing or stale; false if any write failed.
    async fn sync(
        &self,
        store: &Store<Namespace>,
        bundle: &str,
        written: &mut HashMap<String, String>,
    ) -> bool {
        let mut ok = true;
        let active = store.state().into_iter().filter(|ns| is_active(ns));
        for name in active.filter_map(|ns| ns.metadata.name.clone()) {
            if written.get(&name).is_some_and(|b| b == bundle) {
                continue;
            }
            match self.ensure_configmap(&name, bundle).await {
                Ok(()) => drop(written.insert(name, bundle.to_owned())),
                Err(e) => {
                    ok = false;
                    tracing::warn!(namespace = %name, error = %e, "cannot write the trust bundle");
                }
            }
        }
        ok && self.sync_cluster_trust_bundle(bundle, written).await
    }

    async fn sync_cluster_trust_bundle(
        &self,
        bundle: &str,
        written: &mut HashMap<String, String>,
    ) -> bool {
        if !self.cluster_trust_bundle || written.get("").is_some_and(|b| b == bundle) {
            return true;
        }
        match self.ensure_cluster_trust_bundle(bundle).await {
            Ok(()) => drop(written.insert(String::new(), bundle.to_owned())),
            Err(e) => {
                tracing::warn!(error = %e, "cannot write the ClusterTrustBundle");
                return false;
            }
        }
        true
    }

    async fn ensure_configmap(&self, namespace: &str, bundle: &str) -> Result<(), kube::Error> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let name = contract::TRUST_BUNDLE_CONFIGMAP;
        let current = api.get_opt(name).await?;
        let data = BTreeMap::from([(contract::TRUST_BUNDLE_KEY.to_owned(), bundle.to_owned())]);
        if current
            .as_ref()
            .is_some_and(|cm| cm.data.as_ref() == Some(&data) && is_managed(cm.meta()))
        {
            return Ok(());
        }
        let desired = ConfigMap {
            metadata: managed_meta(
                name,
                current
                    .as_ref()
                    .and_then(|c| c.metadata.resource_version.clone()),
            ),
            data: Some(data),
            ..ConfigMap::default()
        };
        let pp = PostParams::default();
        match current {
            None => api.create(&pp, &desired).await?,
            Some(_) => api.replace(name, &pp, &desired).await?,
        };
        tracing::info!(namespace, "trust bundle written");
        Ok(())
    }

    async fn ensure_cluster_trust_bundle(&self, bundle: &str) -> Result<(), kube::Error> {
        let api: Api<ClusterTrustBundle> = Api::all(self.client.clone());
        let current = api.get_opt(CLUSTER_TRUST_BUNDLE).await?;
        let spec = ClusterTrustBundleSpec {
            signer_name: Some(SIGNER_NAME.to_owned()),
            trust_bundle: bundle.to_owned(),
        };
        if current.as_ref().is_some_and(|c| c.spec == spec) {
            return Ok(());
        }
        let version = current
            .as_ref()
            .and_then(|c| c.metadata.resource_version.clone());
        let desired = ClusterTrustBundle {
            metadata: managed_meta(CLUSTER_TRUST_BUNDLE, version),
            spec,
        };
        let pp = PostParams::default();
        match current {
            None => api.create(&pp, &desired).await?,
            Some(_) => api.replace(CLUSTER_TRUST_BUNDLE, &pp, &desired).await?,
        };
        tracing::info!(name = CLUSTER_TRUST_BUNDLE, "ClusterTrustBundle written");
        Ok(())
    }
}

/// Resolves after `RETRY_AFTER` when the last round failed, never otherwise.
async fn retry_unless(ok: bool) {
    if ok {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(RETRY_AFTER).await;
}

fn managed_meta(name: &str, resource_version: Option<String>) -> ObjectMeta {
    let (key, value) = MANAGED_BY;
    ObjectMeta {
        name: Some(name.to_owned()),
        labels: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
        resource_version,
        ..ObjectMeta::default()
    }
}

fn is_managed(meta: &ObjectMeta) -> bool {
    let (key, value) = MANAGED_BY;
    meta.labels
        .as_ref()
        .and_then(|l| l.get(key))
        .is_some_and(|v| v == value)
}

/// Terminating namespaces refuse new objects; skip them.
fn is_active(ns: &Namespace) -> bool {
    let terminating = ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating");
    ns.metadata.deletion_timestamp.is_none() && !terminating
}
