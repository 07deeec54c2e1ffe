//! The policy service: the control plane watches the API server once per replica and
//! serves each sidecar the view of policy its identity needs (docs/policy-distribution.md).
//!
//! - `cut`: a compiled cluster snapshot and the views cut from it, rendered once per
//!   distinct caller and shared by every stream of that caller;
//! - `stream`: `GET /v1/policy/view` on the identity listener: authenticate the
//!   projected token, then a view line whenever the caller's view changes and a
//!   heartbeat in between;
//! - `sessions`: which sidecar holds which view, for `proxy-status` and metrics.
//!
//! Every replica serves; nothing here needs the Lease. A sidecar that loses its replica
//! reconnects through the Service to any other.

pub mod cut;
pub mod progress;
mod progress_writer;
pub mod sessions;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use agentnet_policy::{Settings, compile};
use axum::Router;
use futures::FutureExt;
use tokio::sync::watch;

pub use self::cut::Cut;
pub use self::progress_writer::ProgressWriter;
use self::sessions::Sessions;
use crate::identity::token_review::Authenticator;
use crate::metrics::Metrics;
use crate::status::stores::Stores;

/// A burst of watch events within this window becomes one new cut.
const COALESCE: Duration = Duration::from_millis(50);

/// The current cut; `None` until the watches have synced.
pub type CutRx = watch::Receiver<Option<Arc<Cut>>>;

/// What the stream handler shares.
#[derive(Clone)]
pub struct ServiceState {
    pub cut: CutRx,
    pub auth: Arc<dyn Authenticator>,
    pub trust_domain: Arc<str>,
    pub sessions: Arc<Sessions>,
    pub metrics: Arc<Metrics>,
    pub heartbeat: Duration,
    /// True once the replica is stopping: open streams end, sidecars move on.
    pub stopped: watch::Receiver<bool>,
}

/// `GET /v1/policy/view`.
pub fn router(state: ServiceState) -> Router {
    stream::router(state)
}

/// Cuts a new snapshot whenever the stores change, until `stopped`.
pub async fn run(
    stores: Stores,
    mut changed: watch::Receiver<u64>,
    settings: Settings,
    cut: watch::Sender<Option<Arc<Cut>>>,
    metrics: Arc<Metrics>,
    mut stopped: watch::Receiver<bool>,
) {
    // Checked on every watch event (and each second), never awaited: the status
    // controller awaits the same stores, and a second waiter on a reflector store's
    // readiness was observed to wake up only tens of seconds later.
    loop {
        match stores.wait_until_ready().now_or_never() {
            Some(Ok(())) => break,
            Some(Err(_)) => return tracing::error!("a policy watch stopped before its first sync"),
            None => {}
        }
        tokio::select! {
            c = changed.changed() => if c.is_err() { return },
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
    }
    tracing::info!("policy service synced; serving views");
    let (mut generation, mut last) = (0, None);
    loop {
        changed.borrow_and_update();
        let (stores_now, settings_now) = (stores.clone(), settings.clone());
        let previous = last.clone();
        let work = tokio::task::spawn_blocking(move || {
            let snapshot = cut::sorted(stores_now.distribution_snapshot());
            // Most events touch objects no view holds (other Services and
            // EndpointSlices, status writes): those leave the snapshot as it was and
            // cost no compile and no view.
            let digest = cut::snapshot_digest(&snapshot);
            if previous.as_ref() == Some(&digest) {
                return (digest, None);
            }
            let index = compile(&snapshot, &settings_now);
            let report = index.report().clone();
            (digest, Some((snapshot, report, settings_now.trust_domain)))
        });
        match work.await {
            Ok((_, None)) => {}
            Ok((digest, Some((snapshot, report, trust_domain)))) => {
                generation += 1;
                last = Some(digest);
                let previous = cut.borrow().clone();
                let next = Cut::new(
                    generation,
                    snapshot,
                    report,
                    trust_domain,
                    previous.as_deref(),
                );
                cut.send_replace(Some(Arc::new(next)));
                metrics.policy_distribution_generation(generation);
            }
            Err(e) => {
                tracing::error!(error = %e, "cutting a policy snapshot failed; serving the last")
            }
        }
        tokio::select! {
            c = changed.changed() => if c.is_err() { return },
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        tokio::time::sleep(COALESCE).await;
    }
}

#[cfg(test)]
mod tests;
