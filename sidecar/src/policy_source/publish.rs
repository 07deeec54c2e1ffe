//! The one place the policy index changes: a single writer compiles a snapshot into a
//! whole new `Index` and swaps it in; readers take one `Arc` per request and never lock.
//! Before the first publish nothing is synced and the data path fails closed.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentnet_policy::{Index, Settings, Snapshot, compile};
use arc_swap::ArcSwap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use tokio::sync::watch;

use crate::tls::Peers;

/// What the data path and the admin endpoints read.
#[derive(Debug)]
pub struct PolicyState {
    index: ArcSwap<Index>,
    synced: AtomicBool,
    /// Unix milliseconds of the last publish (0: never).
    published_at: AtomicU64,
    /// Unix milliseconds of the last time the source confirmed the policy in force (a
    /// publish, or the control plane's heartbeat); 0: never.
    confirmed_at: AtomicU64,
    /// Past this long without confirmation the policy counts as stale (milliseconds).
    stale_after: AtomicU64,
    generation: watch::Sender<u64>,
    problems: ArcSwap<Vec<Problem>>,
    /// Services whose pods are agentnet peers (mTLS), from the same snapshots.
    peers: ArcSwap<Peers>,
}

/// An object or file the source could not use (it is skipped; see `/config`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A file path, or `Kind namespace/name`.
    pub source: String,
    pub message: String,
}

/// The single writer.
#[derive(Debug)]
pub struct Publisher {
    state: Arc<PolicyState>,
    settings: Settings,
    last: Option<u64>,
    generation: u64,
}

// === impl PolicyState ===

impl PolicyState {
    /// Not synced; the empty index decides nothing but is never consulted unsynced.
    pub fn new(settings: &Settings) -> Arc<Self> {
        Arc::new(PolicyState {
            index: ArcSwap::from_pointee(compile(&Snapshot::default(), settings)),
            synced: AtomicBool::new(false),
            published_at: AtomicU64::new(0),
            confirmed_at: AtomicU64::new(0),
            stale_after: AtomicU64::new(u64::MAX),
            generation: watch::channel(0).0,
            problems: ArcSwap::from_pointee(Vec::new()),
            peers: ArcSwap::from_pointee(Peers::default()),
        })
    }

    /// The current index; hold it for the whole request.
    pub fn load(&self) -> Arc<Index> {
        self.index.load_full()
    }

    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Notified with the generation on every publish.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// Time since the last publish.
    pub fn age(&self) -> Option<Duration> {
        let at = self.published_at.load(Ordering::Relaxed);
        (at != 0)
            .then(|| now_millis().saturating_sub(at))
            .map(Duration::from_millis)
    }

    /// The source says the policy in force is current.
    pub fn confirm(&self) {
        self.confirmed_at.store(now_millis(), Ordering::Relaxed);
    }

    /// Time since the source last confirmed the policy in force.
    pub fn confirmed_age(&self) -> Option<Duration> {
        let at = self.confirmed_at.load(Ordering::Relaxed);
        (at != 0)
            .then(|| now_millis().saturating_sub(at))
            .map(Duration::from_millis)
    }

    pub fn set_stale_after(&self, bound: Duration) {
        let ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
        self.stale_after.store(ms, Ordering::Relaxed);
    }

    /// Synced, but not confirmed for longer than the stale bound: still enforced (the
    /// last good policy), and reported.
    pub fn is_stale(&self) -> bool {
        let bound = Duration::from_millis(self.stale_after.load(Ordering::Relaxed));
        self.confirmed_age().is_some_and(|age| age > bound)
    }

    pub fn problems(&self) -> Arc<Vec<Problem>> {
        self.problems.load_full()
    }

    pub fn peers(&self) -> Arc<Peers> {
        self.peers.load_full()
    }
}

fn now_millis() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

// === impl Publisher ===

impl Publisher {
    pub fn new(state: Arc<PolicyState>, settings: Settings) -> Self {
        Publisher {
            state,
            settings,
            last: None,
            generation: 0,
        }
    }

    /// Compiles and swaps in `snapshot` unless it equals the last one; marks the state
    /// synced. Returns whether a new index was published.
    pub fn publish(&mut self, mut snapshot: Snapshot) -> bool {
        // Before the fingerprint, which does not cover Service annotations.
        let peers = Peers::from_services(&snapshot.services, &self.settings.trust_domain);
        if *self.state.peers.load_full() != peers {
            self.state.peers.store(Arc::new(peers));
        }
        let fingerprint = fingerprint(&mut snapshot);
        self.state.confirm();
        if self.last == Some(fingerprint) {
            self.state.synced.store(true, Ordering::Release);
            return false;
        }
        self.generation += 1;
        let index = compile(&snapshot, &self.settings).with_generation(self.generation);
        self.state.index.store(Arc::new(index));
        self.state
            .published_at
            .store(now_millis(), Ordering::Relaxed);
        self.state.generation.send_replace(self.generation);
        // Only now: /ready and the data path must never see the empty start-up index
        // as if it were the synced policy (a request in that window would be decided
        // as if no backend existed).
        self.state.synced.store(true, Ordering::Release);
        self.last = Some(fingerprint);
        // The snapshot, the compile's scratch and (unless a request still holds it) the
        // old index are garbage now; without a trim it stays resident in this thread's
        // malloc arena, about as large again as the index itself.
        drop(snapshot);
        crate::memory::release_free_memory();
        true
    }

    pub fn report(&self, problems: Vec<Problem>) {
        self.state.problems.store(Arc::new(problems));
    }

    pub fn state(&self) -> &Arc<PolicyState> {
        &self.state
    }
}

/// A hash of what compiling reads, in a stable order: names, creation times,
/// generations, labels and specs; never status or resourceVersion, so status writes
/// by the webhook do not trigger a rebuild.
fn fingerprint(s: &mut Snapshot) -> u64 {
    let key = |m: &ObjectMeta| (m.namespace.clone(), m.name.clone());
    s.backends.sort_by_key(|o| key(&o.metadata));
    s.policies.sort_by_key(|o| key(&o.metadata));
    s.services.sort_by_key(|o| key(&o.metadata));
    s.endpoint_slices.sort_by_key(|o| key(&o.metadata));
    s.rate_limits.sort_by_key(|o| key(&o.metadata));
    s.reference_grants.sort_by_key(|o| key(&o.metadata));
    let mut h = DefaultHasher::new();
    s.backends
        .iter()
        .for_each(|o| hash(&mut h, &o.metadata, &o.spec));
    s.policies
        .iter()
        .for_each(|o| hash(&mut h, &o.metadata, &o.spec));
    s.services
        .iter()
        .for_each(|o| hash(&mut h, &o.metadata, &o.spec));
    s.rate_limits
        .iter()
        .for_each(|o| hash(&mut h, &o.metadata, &o.spec));
    s.reference_grants
        .iter()
        .for_each(|o| hash(&mut h, &o.metadata, &o.spec));
    s.endpoint_slices.iter().for_each(|o| {
        hash(
            &mut h,
            &o.metadata,
            &(&o.address_type, &o.endpoints, &o.ports),
        )
    });
    h.finish()
}

fn hash<T: Serialize>(h: &mut DefaultHasher, m: &ObjectMeta, spec: &T) {
    let fields = (
        &m.namespace,
        &m.name,
        &m.creation_timestamp,
        &m.generation,
        &m.labels,
        spec,
    );
    // Serializing plain data into a Vec cannot fail; an empty hash input would only
    // cause one extra rebuild.
    h.write(&serde_json::to_vec(&fields).unwrap_or_default());
    h.write_u8(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_source::manifest::{parse, snapshot};

    const BACKEND: &str = "apiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {name: b, namespace: n}\nspec: {mcp: {hostname: example.com, port: 443}}\n";

    #[test]
    fn publishes_only_changes_and_counts_generations() {
        let state = PolicyState::new(&Settings::default());
        assert!(!state.is_synced() && state.age().is_none());
        let mut publisher = Publisher::new(state.clone(), Settings::default());
        let rx = state.subscribe();
        assert!(publisher.publish(snapshot(parse(BACKEND).unwrap())));
        assert!(state.is_synced() && rx.has_changed().unwrap());
        assert_eq!((state.generation(), state.load().generation()), (1, 1));
        assert!(state.load().backend("n", "b").is_some());
        let mut with_status = snapshot(parse(BACKEND).unwrap());
        with_status.backends[0].metadata.resource_version = Some("42".into());
        assert!(
            !publisher.publish(with_status),
            "a resourceVersion change is no change"
        );
        assert!(publisher.publish(Snapshot::default()));
        assert_eq!(state.generation(), 2);
        assert!(state.load().backend("n", "b").is_none());
    }
}
