//! agentnet-sidecar: the per-agent enforcement point. It takes the agent's outbound
//! connections (redirected to it by the pod's capture rules, as `HTTP_PROXY`, or at
//! `/backends/<namespace>/<name>/`), parses every MCP and A2A message, decides it with
//! the policy index (`agentnet_policy`), forwards what is allowed, filters list results,
//! and audits every decision. ARCHITECTURE.md at the repository root maps the modules;
//! docs/sidecar.md describes the behaviour.
//!
//! The modules by role:
//! - `listeners`: accepting connections (outbound, inbound mTLS, admin) and telling what
//!   a captured connection is;
//! - `request`: the request path, from a parsed request to the response and its audit
//!   record;
//! - `policy_source`: the policy index and where it comes from;
//! - `identity`, `tls`: the workload certificate and the TLS configurations built on it;
//! - `capture`: the rules the init container installs;
//! - `app`, `config`, `explain`, `status`, and the process-wide `metrics`, `ready`,
//!   `memory`, `telemetry`.

pub mod app;
pub mod capture;
pub mod config;
pub mod explain;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod identity;
pub(crate) mod listeners;
pub mod memory;
pub(crate) mod metrics;
pub(crate) mod policy_source;
pub(crate) mod ready;
pub(crate) mod request;
pub mod status;
pub mod telemetry;
pub mod tls;

#[cfg(any(test, feature = "fuzzing"))]
mod testing;
