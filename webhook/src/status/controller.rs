//! The control loop: wait for a change (a watch event, leadership gained, a retry or
//! the periodic resync), let the burst settle, compile the whole snapshot, write what
//! differs. Recompiling everything is what re-accepts a policy that was over a limit
//! once a more senior one is deleted.

use std::sync::Arc;
use std::time::Duration;

use agentnet_policy::{Index, Settings, compile, recompile};
use tokio::sync::watch;
use tokio::time::Instant;

use super::leader::Leadership;
use super::stores::Stores;
use super::writer::StatusWriter;
use crate::metrics::Metrics;

/// How soon a pass whose writes failed is retried when nothing else happens.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// When to run a pass.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub debounce: Duration,
    pub resync: Duration,
}

pub struct Reconciler {
    pub stores: Stores,
    pub changed: watch::Receiver<u64>,
    pub leadership: Leadership,
    pub writer: StatusWriter,
    pub settings: Settings,
    pub timing: Timing,
    pub metrics: Arc<Metrics>,
}

// === impl Reconciler ===

impl Reconciler {
    /// Runs until the watches or the election end.
    pub async fn run(mut self) {
        if self.stores.wait_until_ready().await.is_err() {
            return;
        }
        tracing::info!("policy status controller synced");
        let mut index: Option<Index> = None;
        let mut retry_at: Option<Instant> = None;
        while self.triggered(retry_at).await {
            tokio::time::sleep(self.timing.debounce).await;
            self.changed.borrow_and_update();
            let leader = self.leadership.is_leader();
            self.metrics.status_leader(leader);
            if !leader {
                retry_at = None;
                continue;
            }
            let next = self.compile(index.as_ref());
            let pass = self.writer.write(next.report(), &self.stores).await;
            tracing::debug!(generation = next.generation(), ?pass, "status pass");
            retry_at = pass.retry.then(|| Instant::now() + RETRY_AFTER);
            index = Some(next);
        }
    }

    /// Waits for a reason to run a pass; false when the inputs are gone.
    async fn triggered(&mut self, retry_at: Option<Instant>) -> bool {
        let retry = async {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = self.changed.changed() => changed.is_ok(),
            gained = self.leadership.changed() => gained.is_ok(),
            () = retry => true,
            () = tokio::time::sleep(self.timing.resync) => true,
        }
    }

    fn compile(&self, previous: Option<&Index>) -> Index {
        let snapshot = self.stores.snapshot();
        let generation = previous.map_or(0, Index::generation) + 1;
        let index = match previous {
            Some(previous) => recompile(&snapshot, &self.settings, previous),
            None => compile(&snapshot, &self.settings),
        };
        self.metrics.compiled(generation);
        index.with_generation(generation)
    }
}
