//! How the control plane's watches retry after the API server goes away.
//!
//! kube-rs's default (client-go's reflector: 0.8 s doubling to 30 s) suits the many
//! watchers of a fleet; here a few replicas serve every sidecar, and a watch that
//! sleeps 25 s after an API-server restart holds back every revocation made meanwhile
//! (measured before this: ~24 s). So retries double from 100 ms to 500 ms, with up
//! to the same again as jitter: a watch is back within a second of the API server,
//! and two replicas' six watches each make at most a dozen requests a second to a
//! server that is down.

use std::time::Duration;

use kube::runtime::watcher::ExponentialBackoff;

const FIRST: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_millis(500);

/// A fresh backoff for one watch (it resets once the watch delivers again).
pub fn fast() -> ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(FIRST)
        .with_max_delay(CAP)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_never_wait_a_second_and_never_stop() {
        let delays: Vec<Duration> = fast().take(1000).collect();
        assert_eq!(delays.len(), 1000, "a watch retries forever");
        assert!(delays.iter().all(|d| *d >= FIRST && *d <= 2 * CAP));
        assert!(delays[0] < 2 * FIRST, "{:?}", delays[0]);
    }
}
