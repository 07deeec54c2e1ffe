//! The policy status controller's part of `Config`: on/off, the controllerName it
//! writes, and the Lease that elects the one replica that writes.

use std::time::Duration;

use clap::Args;

/// Upstream's controllerName is `sigs.k8s.io/kube-agentic-networking-controller`;
/// ours differs, so both can report on one policy.
pub const DEFAULT_CONTROLLER_NAME: &str = "agentnet.dev/policy-controller";

#[derive(Clone, Debug, Args)]
pub struct StatusConfig {
    /// Run the policy status controller (XAccessPolicy ancestors, XBackend conditions).
    #[arg(long = "status-controller", env = "AGENTNET_STATUS_CONTROLLER", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,

    /// The `controllerName` of the ancestors this controller writes (domain/path).
    #[arg(long = "status-controller-name", env = "AGENTNET_STATUS_CONTROLLER_NAME", default_value = DEFAULT_CONTROLLER_NAME)]
    pub controller_name: String,

    /// The coordination.k8s.io Lease (in --namespace) whose holder writes status.
    #[arg(
        long = "status-lease-name",
        env = "AGENTNET_STATUS_LEASE_NAME",
        default_value = "agentnet-policy-status"
    )]
    pub lease_name: String,

    /// How long a Lease holder stays leader without renewing (others wait this long).
    #[arg(long = "status-lease-duration", env = "AGENTNET_STATUS_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,

    /// A leader that has not renewed for this long stops writing (< lease duration).
    #[arg(long = "status-renew-deadline", env = "AGENTNET_STATUS_RENEW_DEADLINE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub renew_deadline: Duration,

    /// How often the Lease is renewed, or tried by a non-leader (< renew deadline).
    #[arg(long = "status-retry-period", env = "AGENTNET_STATUS_RETRY_PERIOD", default_value = "2s", value_parser = humantime::parse_duration)]
    pub retry_period: Duration,

    /// Changes arriving within this window are compiled together.
    #[arg(long = "status-debounce", env = "AGENTNET_STATUS_DEBOUNCE", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub debounce: Duration,

    /// Every object's status is re-checked this often, whatever changed.
    #[arg(long = "status-resync", env = "AGENTNET_STATUS_RESYNC", default_value = "10m", value_parser = humantime::parse_duration)]
    pub resync: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusConfigError {
    #[error(
        "--status-retry-period ({retry:?}) < --status-renew-deadline ({renew:?}) < --status-lease-duration ({lease:?}) must hold"
    )]
    LeaseTimings {
        retry: Duration,
        renew: Duration,
        lease: Duration,
    },
    #[error("--status-controller-name {0:?} must be a domain, a slash and a path")]
    ControllerName(String),
}

// === impl StatusConfig ===

impl StatusConfig {
    pub fn validate(&self) -> Result<(), StatusConfigError> {
        let (retry, renew, lease) = (self.retry_period, self.renew_deadline, self.lease_duration);
        if retry.is_zero() || retry >= renew || renew >= lease || lease.as_secs() < 1 {
            return Err(StatusConfigError::LeaseTimings {
                retry,
                renew,
                lease,
            });
        }
        if !is_controller_name(&self.controller_name) {
            return Err(StatusConfigError::ControllerName(
                self.controller_name.clone(),
            ));
        }
        Ok(())
    }
}

/// Gateway API's `GatewayController` shape: `example.com/path`, at most 253 bytes.
fn is_controller_name(name: &str) -> bool {
    let Some((domain, path)) = name.split_once('/') else {
        return false;
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let path_ok = !path.is_empty()
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:".contains(&b));
    name.len() <= 253 && domain.split('.').all(label) && path_ok
}
