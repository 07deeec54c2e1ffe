//! What every request on the outbound listener shares: the policy, the agent's
//! identity, the routing settings, the upstream client and the telemetry.

use std::sync::Arc;

use crate::identity::LocalIdentity;
use crate::metrics::Metrics;
use crate::policy_source::PolicyState;
use crate::request::connect::Tunnels;
use crate::request::extauth::ExternalAuth;
use crate::request::forward::Forwarder;
use crate::request::identify::Routing;
use crate::request::ratelimit::RateLimiter;
use crate::request::trace::Tracer;

#[derive(Debug)]
pub struct Proxy {
    pub policy: Arc<PolicyState>,
    pub identity: LocalIdentity,
    pub routing: Routing,
    pub forward: Forwarder,
    pub external_auth: ExternalAuth,
    pub rate_limiter: RateLimiter,
    /// Off (`None` inside) unless an OTLP endpoint is configured.
    pub tracer: Tracer,
    pub metrics: Arc<Metrics>,
    pub tunnels: Tunnels,
    pub limits: Limits,
    /// Write audit lines (metrics are always recorded).
    pub audit: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_list_bytes: usize,
    pub connect_timeout: std::time::Duration,
}

/// Resolves once `flag` is true (or its sender is gone).
pub async fn until_set(flag: &mut tokio::sync::watch::Receiver<bool>) {
    while !*flag.borrow_and_update() {
        if flag.changed().await.is_err() {
            return;
        }
    }
}
