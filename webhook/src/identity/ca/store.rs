//! The CA Secret: created if absent (of two replicas racing, the loser reads the
//! winner's), edited with optimistic concurrency (the rotation commands), and watched,
//! so every replica picks up a rotation without a restart.
//!
//! A Secret that stops validating (a bad manual edit) never replaces good CAs: the
//! last good pool stays in use and the error is logged and counted. A deleted Secret
//! is recreated from the last good data when the webhook generates its CA.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use time::OffsetDateTime;
use tokio::sync::watch;

use super::{CaError, CaPool, SecretData, rotate};
use crate::metrics::Metrics;

/// Edits retried on conflicts with other writers before giving up.
const EDIT_ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Secret {name}: {source}")]
    Api { name: String, source: kube::Error },
    #[error("Secret {0} does not exist")]
    Missing(String),
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error("Secret {0} kept changing; try again")]
    Contended(String),
}

#[derive(Clone)]
pub struct CaStore {
    api: Api<Secret>,
    name: String,
}

/// Keeps the published pool in step with the Secret.
pub struct Loader {
    store: CaStore,
    generate: bool,
    metrics: Arc<Metrics>,
    /// The data of the pool last published.
    last: Option<SecretData>,
}

// === impl CaStore ===

impl CaStore {
    pub fn new(api: Api<Secret>, name: String) -> Self {
        Self { api, name }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Secret's data, if it exists.
    pub async fn read(&self) -> Result<Option<(SecretData, Secret)>, StoreError> {
        let secret = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.error(e))?;
        Ok(secret.map(|s| (data_of(&s), s)))
    }

    /// Creates the Secret with `data`; if another replica created it first, reads theirs.
    pub async fn create(&self, data: &SecretData) -> Result<SecretData, StoreError> {
        match self
            .api
            .create(&PostParams::default(), &self.secret(data, None))
            .await
        {
            Ok(_) => {
                tracing::info!(secret = %self.name, "identity CA Secret created");
                Ok(data.clone())
            }
            Err(kube::Error::Api(s)) if s.code == 409 => match self.read().await? {
                Some((theirs, _)) => Ok(theirs),
                None => Err(StoreError::Missing(self.name.clone())),
            },
            Err(e) => Err(self.error(e)),
        }
    }

    /// Applies `edit` to the current data and writes the result, retrying when another
    /// writer got there first.
    pub async fn edit<F>(&self, edit: F) -> Result<SecretData, StoreError>
    where
        F: Fn(&SecretData) -> Result<SecretData, CaError>,
    {
        for _ in 0..EDIT_ATTEMPTS {
            let (data, secret) = self
                .read()
                .await?
                .ok_or_else(|| StoreError::Missing(self.name.clone()))?;
            let next = edit(&data)?;
            let version = secret.metadata.resource_version;
            let replaced = self.secret(&next, version);
            match self
                .api
                .replace(&self.name, &PostParams::default(), &replaced)
                .await
            {
                Ok(_) => return Ok(next),
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => return Err(self.error(e)),
            }
        }
        Err(StoreError::Contended(self.name.clone()))
    }

    fn secret(&self, data: &SecretData, resource_version: Option<String>) -> Secret {
        let labels = BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_owned(),
            "agentnet-webhook".to_owned(),
        )]);
        let data = data.iter().map(|(k, v)| (k.clone(), ByteString(v.clone())));
        Secret {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(labels),
                resource_version,
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".into()),
            data: Some(data.collect()),
            ..Secret::default()
        }
    }

    fn error(&self, source: kube::Error) -> StoreError {
        StoreError::Api {
            name: self.name.clone(),
            source,
        }
    }
}

fn data_of(secret: &Secret) -> SecretData {
    let data = secret.data.iter().flatten();
    data.map(|(k, v)| (k.clone(), v.0.clone())).collect()
}

// === impl Loader ===

impl Loader {
    pub fn new(store: CaStore, generate: bool, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            generate,
            metrics,
            last: None,
        }
    }

    /// Watches the Secret and publishes every valid change on `tx` until `stopped`.
    pub async fn run(
        mut self,
        tx: watch::Sender<Option<Arc<CaPool>>>,
        mut stopped: watch::Receiver<bool>,
    ) {
        let name = format!("metadata.name={}", self.store.name);
        let config = watcher::Config::default().fields(&name);
        let mut events = watcher(self.store.api.clone(), config)
            .backoff(crate::watch_backoff::fast())
            .boxed();
        // Whether the current list (since the last Init) contained the Secret.
        let mut seen = false;
        loop {
            let event = tokio::select! {
                event = events.next() => event,
                _ = stopped.wait_for(|stop| *stop) => return,
            };
            let Some(event) = event else { return };
            self.on_event(event, &mut seen, &tx, &mut stopped).await;
        }
    }

    async fn on_event(
        &mut self,
        event: Result<watcher::Event<Secret>, watcher::Error>,
        seen: &mut bool,
        tx: &watch::Sender<Option<Arc<CaPool>>>,
        stopped: &mut watch::Receiver<bool>,
    ) {
        match event {
            Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                *seen = true;
                self.apply(&data_of(&s), tx);
            }
            Ok(watcher::Event::Delete(_)) => self.recreate(tx, stopped).await,
            Ok(watcher::Event::Init) => *seen = false,
            Ok(watcher::Event::InitDone) if !*seen => self.recreate(tx, stopped).await,
            Ok(watcher::Event::InitDone) => {}
            Err(e) => {
                let secret = &self.store.name;
                tracing::warn!(%secret, error = %e, "watching the CA Secret failed; retrying");
            }
        }
    }

    /// Publishes `data` if it differs from what is published and validates.
    fn apply(&mut self, data: &SecretData, tx: &watch::Sender<Option<Arc<CaPool>>>) {
        if self.last.as_ref() == Some(data) {
            return;
        }
        match CaPool::from_data(data, OffsetDateTime::now_utc()) {
            Ok(pool) => {
                let signer = &pool.signer();
                tracing::info!(roots = pool.roots().len(), signer = %signer.id, signer_not_after = %signer.not_after, "identity CAs loaded");
                self.metrics
                    .identity_ca(pool.roots().len(), signer.not_after.unix_timestamp());
                tx.send_replace(Some(Arc::new(pool)));
                self.last = Some(data.clone());
            }
            Err(e) => {
                self.metrics.identity_ca_error();
                tracing::error!(secret = %self.store.name, error = %e, "the identity CA Secret is invalid; keeping the CAs in use");
            }
        }
    }

    /// The Secret is gone: recreate it (from the last good data, or a fresh root) when
    /// generating, retrying until it exists; otherwise wait for the user to supply it.
    async fn recreate(
        &mut self,
        tx: &watch::Sender<Option<Arc<CaPool>>>,
        stopped: &mut watch::Receiver<bool>,
    ) {
        if !self.generate {
            return tracing::warn!(secret = %self.store.name, "waiting for the identity CA Secret (--identity-ca-generate=false)");
        }
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.create().await {
                Ok(data) => return self.apply(&data, tx),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot create the identity CA Secret; retrying")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    async fn create(&self) -> Result<SecretData, StoreError> {
        let data = match self.last.clone() {
            Some(data) => data,
            None => rotate::initial(OffsetDateTime::now_utc())?,
        };
        self.store.create(&data).await
    }
}
