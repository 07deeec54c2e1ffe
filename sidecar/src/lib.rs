//! agentnet-sidecar: the per-agent enforcement point. It proxies the agent's outbound
//! HTTP (as `HTTP_PROXY`, or at `/backends/<namespace>/<name>/`), parses every MCP and
//! A2A message, decides it with the policy index (`agentnet_policy`), forwards what is
//! allowed, filters list results, and audits every decision. See docs/sidecar.md.

pub mod admin;
pub mod app;
pub mod audit;
pub mod body;
pub mod codec;
pub mod config;
pub mod decide;
pub mod explain;
pub mod extauth;
pub mod filter;
pub mod forward;
pub mod identify;
pub mod identity;
pub mod inbound;
pub mod memory;
pub mod metrics;
pub mod outbound;
pub mod pipeline;
pub mod policy_source;
pub mod proxy;
pub mod ratelimit;
pub mod ready;
pub mod respond;
pub mod status;
pub mod telemetry;
pub mod tls;
pub mod trace;

#[cfg(test)]
mod testing;
