//! Publishes this replica's progress (`progress::of`) as a ConfigMap in the release
//! namespace, `agentnet-progress-<instance>`: when it changes (a burst settles for
//! `SETTLE`), and every `RENEW` regardless, so the status leader can tell a replica
//! that is gone (its report stops being renewed) from one whose sidecars are all
//! synced. Deleted when the replica stops. One write per change per replica,
//! whatever the number of sidecars.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::time::Instant;

use super::CutRx;
use super::progress::{self, KEY, LABEL, PolicyProgress, Progress};
use super::sessions::{Sessions, unix_now};

/// A report is rewritten at least this often.
pub const RENEW: Duration = Duration::from_secs(10);
/// Changes within this window are written once.
const SETTLE: Duration = Duration::from_millis(300);
const FIELD_MANAGER: &str = "agentnet-policy-progress";

pub struct ProgressWriter {
    api: Api<ConfigMap>,
    name: String,
    sessions: Arc<Sessions>,
    cut: CutRx,
}

impl ProgressWriter {
    pub fn new(
        client: Client,
        namespace: &str,
        instance: &str,
        sessions: Arc<Sessions>,
        cut: CutRx,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: format!("agentnet-progress-{instance}"),
            sessions,
            cut,
        }
    }

    /// Until `stopped`; then the report is deleted.
    pub async fn run(mut self, mut stopped: watch::Receiver<bool>) {
        let mut changes = self.sessions.subscribe();
        let mut last: Option<BTreeMap<String, PolicyProgress>> = None;
        let mut due = Instant::now();
        loop {
            tokio::select! {
                c = changes.changed() => if c.is_err() { break },
                c = self.cut.changed() => if c.is_err() { break },
                () = tokio::time::sleep_until(due) => {}
                _ = stopped.wait_for(|stop| *stop) => break,
            }
            tokio::time::sleep(SETTLE).await;
            changes.borrow_and_update();
            let Some(cut) = self.cut.borrow_and_update().clone() else {
                due = Instant::now() + RENEW;
                continue;
            };
            let policies = progress::of(&self.sessions.list(), &cut.since);
            if last.as_ref() == Some(&policies) && Instant::now() < due {
                continue;
            }
            match self.write(&policies).await {
                Ok(()) => {
                    last = Some(policies);
                    due = Instant::now() + RENEW;
                }
                Err(e) => {
                    tracing::warn!(error = %e, configmap = %self.name, "cannot publish policy progress; retrying");
                    due = Instant::now() + Duration::from_secs(1);
                }
            }
        }
        if let Err(e) = self.api.delete(&self.name, &DeleteParams::default()).await {
            tracing::debug!(error = %e, "deleting the policy progress report");
        }
    }

    async fn write(&self, policies: &BTreeMap<String, PolicyProgress>) -> Result<(), kube::Error> {
        let report = Progress {
            renewed: unix_now(),
            policies: policies.clone(),
        };
        let data = serde_json::to_string(&report).unwrap_or_default();
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some([(LABEL.to_owned(), "true".to_owned())].into()),
                ..ObjectMeta::default()
            },
            data: Some([(KEY.to_owned(), data)].into()),
            ..ConfigMap::default()
        };
        let mut value = serde_json::to_value(&cm).unwrap_or_default();
        value["apiVersion"] = "v1".into();
        value["kind"] = "ConfigMap".into();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.api
            .patch(&self.name, &params, &Patch::Apply(value))
            .await
            .map(drop)
    }
}
