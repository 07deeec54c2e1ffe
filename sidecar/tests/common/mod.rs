//! Harness for the sidecar's integration tests: the sidecar in-process (or the built
//! binary) on 127.0.0.1:0 with a temporary `--config-dir`, raw HTTP through it, and
//! the real MCP and A2A peers from `hack/peers.sh`.

#![allow(dead_code, reason = "each test module uses part of the harness")]

pub mod http;
pub mod identity;
pub mod manifests;
pub mod peers;
pub mod sidecar;
pub mod tls;
pub mod upstream;

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, at most `timeout`; panics naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
