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

#[cfg(test)]
impl Proxy {
    /// A proxy for unit tests: the policy of `yaml` (manifests, as `--config-dir` reads
    /// them) already published, the agent `spiffe://cluster.local/ns/agents/sa/agent`,
    /// local rate limits only, tracing off, no audit lines.
    pub fn for_test(yaml: &str) -> Proxy {
        use agentnet_policy::{Settings, Source};

        use crate::policy_source::{PolicyState, Publisher, manifest};

        let settings = Settings::default();
        let policy = PolicyState::new(&settings);
        let snapshot = manifest::snapshot(manifest::parse(yaml).expect("test manifests"));
        Publisher::new(policy.clone(), settings).publish(snapshot);
        let agent = Source::service_account("cluster.local", "agents", "agent").expect("source");
        let timeout = std::time::Duration::from_secs(1);
        Proxy {
            policy,
            identity: LocalIdentity::new(agent, None),
            routing: Routing {
                caller_namespace: "agents".into(),
                outbound_default: crate::config::OutboundDefault::Deny,
                excluded_ports: Vec::new(),
            },
            forward: Forwarder::new(timeout, None).expect("forwarder"),
            external_auth: ExternalAuth::new(timeout),
            rate_limiter: RateLimiter::new(
                100,
                crate::request::ratelimit::GlobalStore::new(None).expect("store"),
            ),
            tracer: Tracer::off(),
            metrics: Arc::new(Metrics::new()),
            tunnels: Tunnels::new(),
            limits: Limits {
                max_body_bytes: 1 << 20,
                max_list_bytes: 1 << 20,
                connect_timeout: timeout,
            },
            audit: false,
        }
    }
}
