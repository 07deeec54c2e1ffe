//! Local rate limiting: one token bucket per RateLimitPolicy limit and distinct key
//! (caller, method, tool, skill as the limit's `keyBy` says). A request counts against
//! every limit of its backend that applies to it and is refused, drawing nothing, when
//! any of them is empty. Memory is bounded: at `max_keys` buckets, those that have
//! refilled (indistinguishable from new ones) are dropped, then the least recent.
//! `Global` limits are kept in Redis instead (`global.rs`), shared by every sidecar.

mod bucket;
mod global;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentnet_policy::{RateLimit, Request};

pub use bucket::Bucket;
pub use global::{GlobalStore, StoreError};

/// A bucket: its limit's id and the request's key within it.
type Key = (String, String);

/// Buckets kept at most, per sidecar.
pub const DEFAULT_MAX_KEYS: usize = 10_000;

#[derive(Debug)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<Key, Bucket>>,
    max_keys: usize,
    global: GlobalStore,
}

/// Why a request may not proceed.
#[derive(Debug)]
pub enum Refusal {
    Limited(Limited),
    /// A global limit could not be checked (fail closed).
    Store(StoreError),
}

/// A refusal: which limit, and when a token will be there again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limited {
    /// `namespace/policy/limit`.
    pub limit: String,
    pub policy: String,
    pub retry_after: Duration,
}

// === impl RateLimiter ===

impl RateLimiter {
    pub fn new(max_keys: usize, global: GlobalStore) -> Self {
        RateLimiter {
            buckets: Mutex::new(HashMap::new()),
            max_keys: max_keys.max(1),
            global,
        }
    }

    /// Takes a token from every applicable limit, or refuses. Local limits are taken
    /// first: a request a global limit then refuses has used its local tokens.
    pub async fn check(&self, limits: &[Arc<RateLimit>], req: &Request) -> Result<(), Refusal> {
        if limits.is_empty() {
            return Ok(());
        }
        self.check_at(limits, req, Instant::now())
            .map_err(Refusal::Limited)?;
        let global: Vec<&Arc<RateLimit>> = limits
            .iter()
            .filter(|l| l.global && l.applies(req))
            .collect();
        if global.is_empty() {
            return Ok(());
        }
        match self.global.check(&global, req).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(limited)) => Err(Refusal::Limited(limited)),
            Err(e) => Err(Refusal::Store(e)),
        }
    }

    pub fn check_at(
        &self,
        limits: &[Arc<RateLimit>],
        req: &Request,
        now: Instant,
    ) -> Result<(), Limited> {
        let keys: Vec<(&RateLimit, Key)> = limits
            .iter()
            .filter(|l| !l.global && l.applies(req))
            .map(|l| (&**l, (l.id(), l.key(req))))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        // A poisoned lock only means another request panicked mid-update; the
        // buckets are still counts, so carry on with them.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        self.peek_all(&mut buckets, &keys, (limits, now))?;
        for (limit, key) in &keys {
            if let Some(b) = buckets.get_mut(key) {
                b.take(limit, now);
            }
        }
        Ok(())
    }

    /// `Ok` if every bucket has a token (creating missing ones, full).
    fn peek_all(
        &self,
        buckets: &mut HashMap<Key, Bucket>,
        keys: &[(&RateLimit, Key)],
        (limits, now): (&[Arc<RateLimit>], Instant),
    ) -> Result<(), Limited> {
        for (limit, key) in keys {
            if !buckets.contains_key(key) {
                self.make_room(buckets, limits, now);
            }
            let bucket = buckets
                .entry(key.clone())
                .or_insert_with(|| Bucket::full(limit, now));
            bucket.peek(limit, now).map_err(|retry_after| Limited {
                limit: key.0.clone(),
                policy: limit.policy.to_string(),
                retry_after,
            })?;
        }
        Ok(())
    }

    /// Buckets held now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.buckets.lock().map_or(0, |b| b.len())
    }

    fn make_room(
        &self,
        buckets: &mut HashMap<Key, Bucket>,
        limits: &[Arc<RateLimit>],
        now: Instant,
    ) {
        if buckets.len() < self.max_keys {
            return;
        }
        let limit_of = |id: &str| limits.iter().find(|l| l.id() == id);
        buckets.retain(|(id, _), b| limit_of(id).is_some_and(|l| !b.is_full(l, now)));
        while buckets.len() >= self.max_keys {
            let oldest = buckets
                .iter()
                .min_by_key(|(_, b)| b.last())
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => buckets.remove(&k),
                None => break,
            };
        }
    }
}

#[cfg(test)]
mod tests;
