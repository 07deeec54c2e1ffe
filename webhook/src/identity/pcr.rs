//! Kubernetes-native mode: the signer of PodCertificateRequests (certificates.k8s.io
//! v1) for `agentnet.dev/identity`. The kubelet creates one per `podCertificate`
//! volume, holding the key; the signer writes the same X.509-SVID the identity service
//! issues, for `spiffe://<td>/ns/<pcr namespace>/sa/<spec.serviceAccountName>`.
//!
//! - Lifetime: `spec.maxExpirationSeconds` (the injected volume sets it from the pod's
//!   `agentnet.dev/cert-lifetime`), capped at `--identity-max-lifetime`, never under the
//!   API server's minimum of 1 h, and never past the signer's own expiry (else Failed).
//! - `beginRefreshAt` is half-way through the lifetime.
//! - Denied, permanently, with a reason: keys other than ECDSA P-256
//!   (`UnsupportedKeyType`), any `unverifiedUserAnnotations` (none are defined), a stub
//!   CSR asking for another identity.
//! - Requests already Issued, Denied or Failed are left alone; only the leader writes.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use agentnet_api::contract::identity::SIGNER_NAME;
use futures::StreamExt;
use k8s_openapi::api::certificates::v1::PodCertificateRequest;
use kube::api::PostParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use time::OffsetDateTime;
use tokio::sync::watch;

use super::service::log_issued;
use super::{PoolRx, Settings};
use crate::metrics::Metrics;
use crate::status::leader::Leadership;

mod decide;

pub use decide::{Outcome, decide, is_final, status_for};

/// How often non-leaders look again, and failed writes are retried.
const RETRY: StdDuration = StdDuration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum PcrError {
    #[error("writing the status of {name}: {source}")]
    Write { name: String, source: kube::Error },
}

pub struct Signer {
    client: Client,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
}

struct Context {
    client: Client,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    pool: PoolRx,
    leadership: Leadership,
}

// === impl Signer ===

impl Signer {
    pub fn new(client: &Client, settings: Arc<Settings>, metrics: Arc<Metrics>) -> Self {
        Self {
            client: client.clone(),
            settings,
            metrics,
        }
    }

    /// Signs requests while leading, until `stopped`; returns at once when disabled.
    pub async fn run_if(
        self,
        enabled: bool,
        pool: PoolRx,
        leadership: Leadership,
        mut stopped: watch::Receiver<bool>,
    ) {
        if !enabled {
            return;
        }
        let api: Api<PodCertificateRequest> = Api::all(self.client.clone());
        let selector = format!("spec.signerName={SIGNER_NAME}");
        let ctx = Arc::new(Context {
            client: self.client,
            settings: self.settings,
            metrics: self.metrics,
            pool,
            leadership,
        });
        let stop = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        Controller::new(api, watcher::Config::default().fields(&selector))
            .graceful_shutdown_on(stop)
            .run(reconcile, error_policy, ctx)
            .for_each(|_| futures::future::ready(()))
            .await;
    }
}

async fn reconcile(pcr: Arc<PodCertificateRequest>, ctx: Arc<Context>) -> Result<Action, PcrError> {
    if pcr.spec.signer_name != SIGNER_NAME || is_final(&pcr) {
        return Ok(Action::await_change());
    }
    if !ctx.leadership.is_leader() {
        return Ok(Action::requeue(RETRY));
    }
    let Some(pool) = ctx.pool.borrow().clone() else {
        return Ok(Action::requeue(RETRY));
    };
    let now = OffsetDateTime::now_utc();
    let outcome = decide(&pcr, &pool, &ctx.settings, now);
    let mut updated = (*pcr).clone();
    updated.status = Some(status_for(&outcome, now, pcr.metadata.generation));
    let (namespace, name) = (pcr.namespace().unwrap_or_default(), pcr.name_any());
    let api: Api<PodCertificateRequest> = Api::namespaced(ctx.client.clone(), &namespace);
    api.replace_status(&name, &PostParams::default(), &updated)
        .await
        .map_err(|source| PcrError::Write {
            name: format!("{namespace}/{name}"),
            source,
        })?;
    report(&ctx.metrics, &namespace, &name, &outcome);
    Ok(Action::await_change())
}

fn error_policy(_pcr: Arc<PodCertificateRequest>, error: &PcrError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %error, "PodCertificateRequest not signed; retrying");
    Action::requeue(RETRY)
}

fn report(metrics: &Metrics, namespace: &str, name: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Issued {
            leaf, spiffe_id, ..
        } => {
            metrics.identity_issued("pod_certificate");
            log_issued("pod_certificate", spiffe_id, leaf);
        }
        Outcome::Denied { reason, message } | Outcome::Failed { reason, message } => {
            metrics.identity_refused("pod_certificate", reason);
            tracing::info!(namespace, name, reason, error = %message, "PodCertificateRequest refused");
        }
    }
}
