//! One token bucket: `requests` tokens per `period`, at most `burst`, refilled
//! continuously from the time of the last draw.

use std::time::{Duration, Instant};

use agentnet_policy::RateLimit;

#[derive(Clone, Debug)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

// === impl Bucket ===

impl Bucket {
    pub fn full(limit: &RateLimit, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(limit.burst),
            last: now,
        }
    }

    pub fn last(&self) -> Instant {
        self.last
    }

    /// `Ok` if a token is there now; else how long until one is.
    pub fn peek(&mut self, limit: &RateLimit, now: Instant) -> Result<(), Duration> {
        self.refill(limit, now);
        if self.tokens >= 1.0 {
            return Ok(());
        }
        let missing = 1.0 - self.tokens;
        Err(Duration::from_secs_f64(missing / rate(limit)))
    }

    pub fn take(&mut self, limit: &RateLimit, now: Instant) {
        self.refill(limit, now);
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    /// Refilled to capacity: the same as a new bucket, so it may be dropped.
    pub fn is_full(&self, limit: &RateLimit, now: Instant) -> bool {
        let mut b = self.clone();
        b.refill(limit, now);
        b.tokens >= f64::from(limit.burst)
    }

    fn refill(&mut self, limit: &RateLimit, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let burst = f64::from(limit.burst);
        self.tokens = (self.tokens + elapsed * rate(limit)).min(burst);
        self.last = now.max(self.last);
    }
}

/// Tokens per second.
fn rate(limit: &RateLimit) -> f64 {
    f64::from(limit.requests) / limit.period.as_secs_f64().max(1e-3)
}
