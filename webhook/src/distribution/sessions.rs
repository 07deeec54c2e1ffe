//! The sidecars connected to this replica, and the view each was last sent: what
//! `agentnet-webhook proxy-status` lists.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One connected sidecar, as `/debug/sidecars` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub spiffe_id: String,
    pub pod: Option<String>,
    pub namespace: String,
    /// Unix seconds.
    pub connected_at: u64,
    /// The view last sent; `None` before the first.
    pub version: Option<String>,
    pub generation: u64,
    /// Unix seconds of the last view or heartbeat written to the stream.
    pub last_sent_at: u64,
}

#[derive(Debug, Default)]
pub struct Sessions {
    next: AtomicU64,
    open: Mutex<BTreeMap<u64, Session>>,
}

/// Removes its session when the stream ends.
#[derive(Debug)]
pub struct Registration {
    id: u64,
    sessions: Arc<Sessions>,
}

// === impl Sessions ===

impl Sessions {
    pub fn register(
        self: &Arc<Self>,
        spiffe_id: &str,
        namespace: &str,
        pod: Option<&str>,
    ) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let session = Session {
            spiffe_id: spiffe_id.to_owned(),
            pod: pod.map(str::to_owned),
            namespace: namespace.to_owned(),
            connected_at: now(),
            version: None,
            generation: 0,
            last_sent_at: 0,
        };
        self.lock().insert(id, session);
        Registration {
            id,
            sessions: self.clone(),
        }
    }

    /// Every open session, oldest first.
    pub fn list(&self) -> Vec<Session> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Session>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

// === impl Registration ===

impl Registration {
    /// A view or heartbeat for `version` at `generation` was written to the stream.
    pub fn sent(&self, version: &str, generation: u64) {
        if let Some(s) = self.sessions.lock().get_mut(&self.id) {
            if s.version.as_deref() != Some(version) {
                s.version = Some(version.to_owned());
            }
            s.generation = generation;
            s.last_sent_at = now();
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.id);
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_listed_while_registered() {
        let sessions = Arc::new(Sessions::default());
        let a = sessions.register("spiffe://td/ns/a/sa/x", "a", Some("pod-1"));
        let b = sessions.register("spiffe://td/ns/b/sa/y", "b", None);
        a.sent("v1", 3);
        let listed = sessions.list();
        assert_eq!(listed.len(), 2);
        assert_eq!(
            (listed[0].version.as_deref(), listed[0].generation),
            (Some("v1"), 3)
        );
        assert_eq!(listed[1].version, None);
        drop(b);
        assert_eq!(sessions.list().len(), 1);
        drop(a);
        assert!(sessions.list().is_empty());
    }
}
