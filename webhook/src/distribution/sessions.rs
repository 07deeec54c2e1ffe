//! The sidecars connected to this replica, the view each was last sent, and what each
//! said it did with it (acknowledgements): what `agentnet-webhook proxy-status` lists.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use agentnet_api::contract::policy::Ack;
use agentnet_policy::PolicyRef;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// One connected sidecar, as `/debug/sidecars` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The last view the sidecar said it put in force.
    #[serde(default)]
    pub applied_version: Option<String>,
    /// Why it refused the last view it refused (cleared by the next applied one).
    #[serde(default)]
    pub rejected: Option<String>,
    /// Whether the sidecar acknowledges views at all (older sidecars do not).
    #[serde(default)]
    pub acks: bool,
    /// The policies of the view last sent that can apply to this sidecar.
    #[serde(skip)]
    pub applies: Arc<[PolicyRef]>,
}

impl Session {
    /// Where the sidecar stands: CONNECTING (no view sent), SENT (not acknowledged
    /// yet, or a sidecar that does not acknowledge), SYNCED (it holds the view last
    /// sent), REJECTED (it refused the view last sent).
    pub fn state(&self) -> &'static str {
        match (&self.version, &self.rejected) {
            (None, _) => "CONNECTING",
            _ if self.synced() => "SYNCED",
            (Some(_), Some(_)) => "REJECTED",
            _ => "SENT",
        }
    }

    /// It acknowledged the view last sent as applied.
    pub fn synced(&self) -> bool {
        self.version.is_some() && self.applied_version == self.version
    }
}

/// An acknowledgement that names no session of this replica.
#[derive(Debug, thiserror::Error)]
#[error("no policy session {0} on this replica")]
pub struct UnknownSession(String);

#[derive(Debug)]
pub struct Sessions {
    next: AtomicU64,
    inner: Mutex<Inner>,
    /// Bumped whenever a session opens, closes, is sent a view or acknowledges one.
    changed: watch::Sender<u64>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            next: AtomicU64::new(0),
            inner: Mutex::default(),
            changed: watch::channel(0).0,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    open: BTreeMap<u64, Session>,
    /// Session id (the stream's secret) → key in `open`.
    ids: HashMap<String, u64>,
}

/// Removes its session when the stream ends.
#[derive(Debug)]
pub struct Registration {
    key: u64,
    /// The random id the sidecar acknowledges with.
    pub id: String,
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
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        // 128 bits from the thread's CSPRNG: the credential of acknowledgements.
        let id = format!("{:032x}", rand::random::<u128>());
        let session = Session {
            spiffe_id: spiffe_id.to_owned(),
            pod: pod.map(str::to_owned),
            namespace: namespace.to_owned(),
            connected_at: unix_now(),
            ..Session::default()
        };
        let mut inner = self.lock();
        inner.open.insert(key, session);
        inner.ids.insert(id.clone(), key);
        drop(inner);
        self.bump();
        Registration {
            key,
            id,
            sessions: self.clone(),
        }
    }

    /// Records what the sidecar of `ack.session` did with view `ack.version`.
    pub fn ack(&self, ack: &Ack) -> Result<(), UnknownSession> {
        let mut inner = self.lock();
        let key = *inner
            .ids
            .get(&ack.session)
            .ok_or_else(|| UnknownSession(ack.session.clone()))?;
        let Some(s) = inner.open.get_mut(&key) else {
            return Err(UnknownSession(ack.session.clone()));
        };
        s.acks = true;
        if ack.applied {
            s.applied_version = Some(ack.version.clone());
            s.rejected = None;
        } else {
            s.rejected = Some(ack.error.clone().unwrap_or_else(|| "refused".to_owned()));
        }
        drop(inner);
        self.bump();
        Ok(())
    }

    /// Changes whenever `list` may show something new.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Every open session, oldest first.
    pub fn list(&self) -> Vec<Session> {
        self.lock().open.values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

// === impl Registration ===

impl Registration {
    /// A view for `version` at `generation` was written to the stream.
    pub fn sent_view(&self, version: &str, generation: u64, applies: Arc<[PolicyRef]>) {
        if let Some(s) = self.sessions.lock().open.get_mut(&self.key) {
            s.version = Some(version.to_owned());
            s.applies = applies;
            s.generation = generation;
            s.last_sent_at = unix_now();
        }
        self.sessions.bump();
    }

    /// A heartbeat of the view last sent was written at `generation`.
    pub fn sent_heartbeat(&self, generation: u64) {
        self.current_at(generation);
        if let Some(s) = self.sessions.lock().open.get_mut(&self.key) {
            s.last_sent_at = unix_now();
        }
    }

    /// Cut `generation` leaves this sidecar's view as it was sent: the sidecar holds
    /// that generation as soon as it holds the view.
    pub fn current_at(&self, generation: u64) {
        let moved = match self.sessions.lock().open.get_mut(&self.key) {
            Some(s) if s.generation != generation => {
                s.generation = generation;
                true
            }
            _ => false,
        };
        if moved {
            self.sessions.bump();
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut inner = self.sessions.lock();
        inner.open.remove(&self.key);
        inner.ids.remove(&self.id);
        drop(inner);
        self.sessions.bump();
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(session: &str, version: &str, error: Option<&str>) -> Ack {
        Ack {
            session: session.into(),
            version: version.into(),
            applied: error.is_none(),
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn sessions_are_listed_while_registered() {
        let sessions = Arc::new(Sessions::default());
        let a = sessions.register("spiffe://td/ns/a/sa/x", "a", Some("pod-1"));
        let b = sessions.register("spiffe://td/ns/b/sa/y", "b", None);
        a.sent_view("v1", 3, Arc::from([]));
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

    #[test]
    fn acknowledgements_move_a_session_from_sent_to_synced_or_rejected() {
        let sessions = Arc::new(Sessions::default());
        let a = sessions.register("spiffe://td/ns/a/sa/x", "a", Some("pod-1"));
        assert_eq!(sessions.list()[0].state(), "CONNECTING");
        a.sent_view("v1", 1, Arc::from([]));
        assert_eq!(sessions.list()[0].state(), "SENT");
        sessions.ack(&ack(&a.id, "v1", None)).unwrap();
        assert_eq!(sessions.list()[0].state(), "SYNCED");
        // A newer view it has not acknowledged yet, then refuses.
        a.sent_view("v2", 2, Arc::from([]));
        assert_eq!(sessions.list()[0].state(), "SENT");
        sessions.ack(&ack(&a.id, "v2", Some("bad line"))).unwrap();
        let s = &sessions.list()[0];
        assert_eq!(
            (
                s.state(),
                s.applied_version.as_deref(),
                s.rejected.as_deref()
            ),
            ("REJECTED", Some("v1"), Some("bad line"))
        );
        // A heartbeat of the same view keeps it synced once applied.
        a.sent_view("v3", 3, Arc::from([]));
        sessions.ack(&ack(&a.id, "v3", None)).unwrap();
        a.sent_heartbeat(4);
        assert_eq!(sessions.list()[0].state(), "SYNCED");
    }

    #[test]
    fn an_acknowledgement_needs_the_id_of_an_open_session() {
        let sessions = Arc::new(Sessions::default());
        let a = sessions.register("spiffe://td/ns/a/sa/x", "a", None);
        let b = sessions.register("spiffe://td/ns/a/sa/x", "a", None);
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), 32);
        assert!(sessions.ack(&ack("0123", "v1", None)).is_err());
        let id = a.id.clone();
        drop(a);
        assert!(sessions.ack(&ack(&id, "v1", None)).is_err(), "closed");
        assert!(sessions.list().iter().all(|s| s.applied_version.is_none()));
    }
}
