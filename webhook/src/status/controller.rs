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

/// Why a pass runs: anything but new progress reports may change what compiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    Objects,
    Progress,
}

pub struct Reconciler {
    pub stores: Stores,
    pub changed: watch::Receiver<u64>,
    /// Progress reports changed: only `Programmed` can change, so no recompile.
    pub progress: watch::Receiver<u64>,
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
        while let Some(wake) = self.triggered(retry_at).await {
            tokio::time::sleep(self.timing.debounce).await;
            let objects = wake == Wake::Objects || self.changed.has_changed().unwrap_or(true);
            self.changed.borrow_and_update();
            self.progress.borrow_and_update();
            let leader = self.leadership.is_leader();
            self.metrics.status_leader(leader);
            if !leader {
                retry_at = None;
                continue;
            }
            if objects || index.is_none() {
                index = Some(self.compile(index.as_ref()));
            }
            let Some(current) = index.as_ref() else {
                continue;
            };
            let pass = self.writer.write(current.report(), &self.stores).await;
            tracing::debug!(generation = current.generation(), ?pass, "status pass");
            retry_at = pass.retry.then(|| Instant::now() + RETRY_AFTER);
        }
    }

    /// Waits for a reason to run a pass; `None` when the inputs are gone.
    async fn triggered(&mut self, retry_at: Option<Instant>) -> Option<Wake> {
        let retry = async {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let objects = |ok: bool| ok.then_some(Wake::Objects);
        tokio::select! {
            changed = self.changed.changed() => objects(changed.is_ok()),
            progress = self.progress.changed() => progress.is_ok().then_some(Wake::Progress),
            gained = self.leadership.changed() => objects(gained.is_ok()),
            () = retry => Some(Wake::Objects),
            () = tokio::time::sleep(self.timing.resync) => Some(Wake::Objects),
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
