//! Global limits: token buckets shared by every sidecar, kept in Redis. One Lua script
//! refills and checks every bucket a request draws from, and takes a token from each
//! only when all have one, atomically on the Redis server and with its clock. Buckets
//! expire once they would have refilled, so Redis holds only active keys. All keys
//! share the `{agentnet-rl}` hash tag, so the script also runs on a Redis Cluster.
//! Any error (no Redis configured, unreachable, a timeout) refuses the request: fail
//! closed.

use std::sync::Arc;
use std::time::Duration;

use agentnet_policy::{RateLimit, Request};
use redis::Script;
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use super::Limited;

/// How long one Redis round trip may take.
const TIMEOUT: Duration = Duration::from_secs(1);

/// `KEYS`: buckets; `ARGV`: per bucket, tokens per ms, capacity, expiry in ms. Returns
/// `{1, 0, 0}` when every bucket had a token (one is taken from each), else
/// `{0, ms until a token, 1-based index of the bucket}`.
const TAKE_ALL: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tokens, wait, empty = {}, 0, 0
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
  local b = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local tk, at = tonumber(b[1]) or burst, tonumber(b[2]) or now
  tk = math.min(burst, tk + math.max(0, now - at) * rate)
  tokens[i] = tk
  if tk < 1 and empty == 0 then
    wait, empty = math.ceil((1 - tk) / rate), i
  end
end
if empty > 0 then return {0, wait, empty} end
for i = 1, #KEYS do
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i] - 1), 'at', now)
  redis.call('PEXPIRE', KEYS[i], ARGV[3 * i])
end
return {1, 0, 0}
";

/// The Redis store of global limits, connected on first use. Its `Debug` shows no
/// connection details (the URL may hold a password).
pub struct GlobalStore {
    client: Option<redis::Client>,
    connection: OnceCell<ConnectionManager>,
    script: Script,
}

impl std::fmt::Debug for GlobalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalStore")
            .field("configured", &self.client.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a global limit could not be checked; the request is refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "rate limit {0} is Global but this sidecar has no --rate-limit-redis-url; the request is refused"
    )]
    NotConfigured(String),
    #[error("the global rate limit store is unavailable: {0}")]
    Unavailable(String),
}

// === impl GlobalStore ===

impl GlobalStore {
    /// `url`: `redis://host:port[/db]`; `None`: global limits refuse every request.
    pub fn new(url: Option<&str>) -> Result<Self, redis::RedisError> {
        Ok(GlobalStore {
            client: url.map(redis::Client::open).transpose()?,
            connection: OnceCell::new(),
            script: Script::new(TAKE_ALL),
        })
    }

    /// Takes a token from every global limit that applies, or refuses.
    pub async fn check(
        &self,
        limits: &[&Arc<RateLimit>],
        req: &Request,
    ) -> Result<Result<(), Limited>, StoreError> {
        let Some(first) = limits.first() else {
            return Ok(Ok(()));
        };
        let Some(client) = &self.client else {
            return Err(StoreError::NotConfigured(first.id()));
        };
        let mut invocation = self.script.prepare_invoke();
        for limit in limits {
            let key = format!(
                "agentnet:rl:{{agentnet-rl}}:{}:{}",
                limit.id(),
                limit.key(req)
            );
            let rate = f64::from(limit.requests) / limit.period.as_secs_f64().max(1e-3) / 1000.0;
            let refill = f64::from(limit.burst) / rate;
            invocation
                .key(key)
                .arg(rate)
                .arg(limit.burst)
                .arg(refill.ceil() as u64 + 1000);
        }
        let answer: Vec<i64> = tokio::time::timeout(TIMEOUT, async {
            let mut connection = self.connection(client).await?;
            invocation.invoke_async(&mut connection).await
        })
        .await
        .map_err(|_| StoreError::Unavailable(format!("no answer within {TIMEOUT:?}")))?
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(verdict(&answer, limits, first))
    }

    async fn connection(&self, client: &redis::Client) -> redis::RedisResult<ConnectionManager> {
        let connect = || ConnectionManager::new(client.clone());
        self.connection.get_or_try_init(connect).await.cloned()
    }
}

/// The script's answer; `first` names the refusal if the answer names no bucket.
fn verdict(answer: &[i64], limits: &[&Arc<RateLimit>], first: &RateLimit) -> Result<(), Limited> {
    let (wait, index) = match answer {
        [1, ..] => return Ok(()),
        [_, wait, index] => (*wait, *index),
        _ => (1000, 0),
    };
    let limit = usize::try_from(index - 1)
        .ok()
        .and_then(|i| limits.get(i))
        .map_or(first, |l| &***l);
    Err(Limited {
        limit: limit.id(),
        policy: limit.policy.to_string(),
        retry_after: Duration::from_millis(u64::try_from(wait).unwrap_or(1000)),
    })
}
