//! Leader election over a coordination.k8s.io Lease: of all replicas, only the holder
//! writes status.
//!
//! The algorithm is client-go's. Every `retry_period` each replica reads the Lease: the
//! holder renews it, the others take it once it is free or its record has not changed
//! for `leaseDurationSeconds` as measured by their own monotonic clock (so clock skew
//! between nodes does not matter). Writes carry the `resourceVersion` read, so of two
//! replicas racing for the Lease one gets a conflict. A holder counts itself leader only
//! until `renew_deadline` (shorter than the lease duration) after the start of its last
//! successful renewal: when renewals fail it stops writing before anyone else may
//! start. On shutdown the holder releases the Lease so another replica takes over at
//! once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;

/// What one replica needs to take part.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub name: String,
    /// This replica, unique among replicas (its pod name).
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

/// The reading side: whether this replica may write now.
#[derive(Clone, Debug)]
pub struct Leadership(watch::Receiver<Option<Instant>>);

/// One round's verdict on a Lease that exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// We hold it: renew.
    Renew,
    /// Free, released or expired: take it.
    Take,
    /// Someone else holds it.
    Follow,
}

struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    /// The Lease's resourceVersion when last seen changing, and when.
    observed: Option<(String, Instant)>,
    /// Leadership as last published.
    leading: bool,
}

/// A new leadership channel: the sender for [`elect`], the reader for writers.
pub fn channel() -> (watch::Sender<Option<Instant>>, Leadership) {
    let (tx, rx) = watch::channel(None);
    (tx, Leadership(rx))
}

/// Takes part in the election until `stopped`, publishing leadership on `tx`.
pub async fn elect(
    api: Api<Lease>,
    settings: LeaseSettings,
    tx: watch::Sender<Option<Instant>>,
    mut stopped: watch::Receiver<bool>,
) {
    let retry = settings.retry_period;
    let mut elector = Elector {
        api,
        settings,
        observed: None,
        leading: false,
    };
    while !*stopped.borrow() {
        let started = Instant::now();
        let round = match tokio::time::timeout(retry, elector.try_lead()).await {
            Ok(result) => result.map_err(Some),
            Err(_) => Err(None),
        };
        elector.publish(&tx, started, round);
        tokio::select! {
            changed = stopped.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep(retry) => {}
        }
    }
    if is_valid(*tx.borrow()) {
        // Bounded: shutdown must not wait on an unreachable API server.
        let _ = tokio::time::timeout(retry, elector.release()).await;
    }
    tx.send_if_modified(|v| v.take().is_some());
}

/// The step for a Lease that exists, given how long its record has been unchanged.
pub fn decide(spec: &LeaseSpec, identity: &str, unchanged_for: Duration, ours: Duration) -> Step {
    match spec.holder_identity.as_deref() {
        None | Some("") => Step::Take,
        Some(holder) if holder == identity => Step::Renew,
        Some(_) => {
            let secs = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok());
            let duration = secs.map_or(ours, Duration::from_secs);
            if unchanged_for >= duration {
                Step::Take
            } else {
                Step::Follow
            }
        }
    }
}

/// The spec written to renew or take the Lease (`previous`: None when creating it).
pub fn claim(previous: Option<&LeaseSpec>, settings: &LeaseSettings, now: Timestamp) -> LeaseSpec {
    let prev = previous.cloned().unwrap_or_default();
    let renewing = prev.holder_identity.as_deref() == Some(settings.identity.as_str());
    let transitions = prev.lease_transitions.unwrap_or(0);
    let seconds = i32::try_from(settings.lease_duration.as_secs()).unwrap_or(i32::MAX);
    LeaseSpec {
        holder_identity: Some(settings.identity.clone()),
        lease_duration_seconds: Some(seconds.max(1)),
        acquire_time: match renewing {
            true => prev.acquire_time.clone(),
            false => Some(MicroTime(now)),
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: match (renewing, previous.is_some()) {
            (true, _) | (false, false) => Some(transitions),
            (false, true) => Some(transitions.saturating_add(1)),
        },
        ..prev
    }
}

fn is_valid(until: Option<Instant>) -> bool {
    until.is_some_and(|t| Instant::now() < t)
}

// === impl Leadership ===

impl Leadership {
    /// True while this replica holds the Lease and renewed it within the deadline.
    pub fn is_leader(&self) -> bool {
        is_valid(*self.0.borrow())
    }

    /// Resolves when leadership is gained or lost (not on each renewal); `Err` once the
    /// election has ended.
    pub async fn changed(&mut self) -> Result<(), watch::error::RecvError> {
        self.0.changed().await
    }
}

// === impl Elector ===

impl Elector {
    async fn try_lead(&mut self) -> Result<bool, kube::Error> {
        let name = &self.settings.name;
        let Some(lease) = self.api.get_opt(name).await? else {
            return self.write(None).await;
        };
        let now = Instant::now();
        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        if self.observed.as_ref().is_none_or(|(seen, _)| *seen != rv) {
            self.observed = Some((rv, now));
        }
        let unchanged_for = self
            .observed
            .as_ref()
            .map_or(Duration::ZERO, |(_, t)| now - *t);
        let spec = lease.spec.clone().unwrap_or_default();
        let identity = &self.settings.identity;
        match decide(&spec, identity, unchanged_for, self.settings.lease_duration) {
            Step::Follow => Ok(false),
            Step::Renew | Step::Take => self.write(Some(lease)).await,
        }
    }

    /// Creates the Lease, or replaces the version read; a conflict means another
    /// replica won this round.
    async fn write(&mut self, current: Option<Lease>) -> Result<bool, kube::Error> {
        let spec = claim(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.settings,
            Timestamp::now(),
        );
        let pp = PostParams::default();
        let written = match current {
            Some(mut lease) => {
                lease.spec = Some(spec);
                self.api.replace(&self.settings.name, &pp, &lease).await
            }
            None => self.api.create(&pp, &self.new_lease(spec)).await,
        };
        match written {
            Ok(lease) => {
                let rv = lease.metadata.resource_version.unwrap_or_default();
                self.observed = Some((rv, Instant::now()));
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn new_lease(&self, spec: LeaseSpec) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(self.settings.name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
        }
    }

    /// Updates the published deadline; notifies only when leadership flips. An error
    /// (`None`: a timeout) keeps the deadline, which then runs out on its own.
    fn publish(
        &mut self,
        tx: &watch::Sender<Option<Instant>>,
        started: Instant,
        round: Result<bool, Option<kube::Error>>,
    ) {
        let lease = self.settings.name.as_str();
        let deadline = started + self.settings.renew_deadline;
        let was = self.leading;
        let flipped = tx.send_if_modified(|until| {
            match &round {
                Ok(true) => *until = Some(deadline),
                Ok(false) => *until = None,
                Err(_) if !is_valid(*until) => *until = None,
                Err(_) => {}
            }
            is_valid(*until) != was
        });
        let now = was != flipped;
        if let Err(e) = &round {
            let error = e
                .as_ref()
                .map_or("timed out".to_owned(), ToString::to_string);
            tracing::warn!(lease, error, "cannot read or renew the leader Lease");
        }
        if now != was {
            tracing::info!(lease, leader = now, "leadership changed");
        }
        self.leading = now;
    }

    /// Gives the Lease up, if we still hold it, so another replica need not wait.
    async fn release(&self) {
        let name = &self.settings.name;
        let Ok(Some(mut lease)) = self.api.get_opt(name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self.api.replace(name, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!(lease = %name, "released the leader Lease"),
            Err(e) => tracing::warn!(lease = %name, error = %e, "cannot release the leader Lease"),
        }
    }
}

#[cfg(test)]
mod tests;
