//! agentnet-webhook: injects the agentnet sidecar into opted-in pods (`/mutate`),
//! converts XAccessPolicy versions (`/convert`), writes XAccessPolicy and XBackend
//! status (`status`), issues workload identities (`identity`), and manages its own
//! serving certificate. See `app` for how the jobs are wired together.

pub mod admin;
pub mod app;
pub mod config;
pub mod convert;
pub mod distribution;
pub mod identity;
pub mod metrics;
pub mod mutate;
pub mod proxy_status;
pub mod server;
pub mod serving_cert;
pub mod status;
pub mod telemetry;
pub mod watch_backoff;
