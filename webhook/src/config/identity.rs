//! The identity service's part of `Config`: its listener, the CA Secret, certificate
//! lifetimes, the Lease of the replica that distributes trust bundles and signs
//! PodCertificateRequests, and PodCertificate mode.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use agentnet_api::contract::identity;
use clap::{Args, Parser, Subcommand};

/// Longest lifetime the webhook accepts as a maximum (the annotation's upper bound).
const MAX_MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug, Args)]
pub struct IdentityConfig {
    /// Run the identity service (CSR signing, trust bundles, PodCertificateRequest signer).
    #[arg(id = "identity", long = "identity", env = "AGENTNET_IDENTITY", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,

    /// TLS listener of the identity service (`POST /v1/certify`).
    #[arg(
        id = "identity-listen-addr",
        long = "identity-listen-addr",
        env = "AGENTNET_IDENTITY_LISTEN_ADDR",
        default_value = "0.0.0.0:8444"
    )]
    pub listen_addr: SocketAddr,

    /// Serve sidecars their policy views (`GET /v1/policy/view`) on the identity
    /// listener: the policy service. Off: sidecars need another policy source.
    #[arg(id = "policy-service", long = "policy-service", env = "AGENTNET_POLICY_SERVICE", default_value_t = true, action = clap::ArgAction::Set)]
    pub policy_service: bool,

    /// How often an idle policy stream carries a heartbeat (sidecars reconnect after
    /// three silent intervals).
    #[arg(id = "policy-heartbeat", long = "policy-heartbeat", env = "AGENTNET_POLICY_HEARTBEAT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub policy_heartbeat: Duration,

    /// The Service port sidecars call (part of the default identity URL).
    #[arg(id = "identity-service-port", long = "identity-service-port", env = "AGENTNET_IDENTITY_SERVICE_PORT", default_value_t = identity::PORT)]
    pub service_port: u16,

    /// Secret (in --namespace) holding the identity CAs: trusted roots and the signer.
    #[arg(
        id = "identity-ca-secret",
        long = "identity-ca-secret",
        env = "AGENTNET_IDENTITY_CA_SECRET",
        default_value = "agentnet-identity-ca"
    )]
    pub ca_secret: String,

    /// Create the CA Secret with a fresh root when it does not exist. Off: the Secret is
    /// supplied by the user, and certificates are refused (503) until it exists.
    #[arg(id = "identity-ca-generate", long = "identity-ca-generate", env = "AGENTNET_IDENTITY_CA_GENERATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub ca_generate: bool,

    /// Lifetime of a workload certificate when the request names none.
    #[arg(id = "identity-default-lifetime", long = "identity-default-lifetime", env = "AGENTNET_IDENTITY_DEFAULT_LIFETIME", default_value = "1h", value_parser = humantime::parse_duration)]
    pub default_lifetime: Duration,

    /// Longest lifetime issued; longer requests are capped (as is everything at the
    /// signing CA's own expiry).
    #[arg(id = "identity-max-lifetime", long = "identity-max-lifetime", env = "AGENTNET_IDENTITY_MAX_LIFETIME", default_value = "24h", value_parser = humantime::parse_duration)]
    pub max_lifetime: Duration,

    /// The Lease (in --namespace) whose holder writes trust bundles and signs
    /// PodCertificateRequests. Its timings are the status controller's.
    #[arg(
        id = "identity-lease-name",
        long = "identity-lease-name",
        env = "AGENTNET_IDENTITY_LEASE_NAME",
        default_value = "agentnet-identity"
    )]
    pub lease_name: String,

    /// Every trust-bundle ConfigMap is re-checked this often, whatever changed.
    #[arg(id = "identity-bundle-resync", long = "identity-bundle-resync", env = "AGENTNET_IDENTITY_BUNDLE_RESYNC", default_value = "5m", value_parser = humantime::parse_duration)]
    pub bundle_resync: Duration,

    /// Extra DNS names or IPs for the identity listener's certificate.
    #[arg(
        id = "identity-extra-sans",
        long = "identity-extra-sans",
        env = "AGENTNET_IDENTITY_EXTRA_SANS",
        value_delimiter = ','
    )]
    pub extra_sans: Vec<String>,

    /// PodCertificate mode: sign PodCertificateRequests for `agentnet.dev/identity` and
    /// publish the roots as a ClusterTrustBundle (needs the certificates.k8s.io v1 API).
    #[arg(id = "identity-pod-certificates", long = "identity-pod-certificates", env = "AGENTNET_IDENTITY_POD_CERTIFICATES", default_value_t = false, action = clap::ArgAction::Set)]
    pub pod_certificates: bool,

    /// In PodCertificate mode, also inject a `podCertificate` volume into sidecars, so
    /// they take their certificate from the kubelet instead of `/v1/certify`.
    #[arg(id = "identity-pod-certificate-volumes", long = "identity-pod-certificate-volumes", env = "AGENTNET_IDENTITY_POD_CERTIFICATE_VOLUMES", default_value_t = true, action = clap::ArgAction::Set)]
    pub pod_certificate_volumes: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityConfigError {
    #[error(
        "--identity-default-lifetime ({default:?}) must lie within 1m and --identity-max-lifetime ({max:?}), at most 24h"
    )]
    Lifetimes { default: Duration, max: Duration },
}

// === impl IdentityConfig ===

impl IdentityConfig {
    pub fn validate(&self) -> Result<(), IdentityConfigError> {
        let (default, max) = (self.default_lifetime, self.max_lifetime);
        let min = Duration::from_secs(identity::MIN_LIFETIME_SECONDS);
        if default < min || default > max || max > MAX_MAX_LIFETIME {
            return Err(IdentityConfigError::Lifetimes { default, max });
        }
        Ok(())
    }
}

/// `agentnet-webhook ca …`: inspects and rotates the identity CAs in their Secret. The
/// running webhooks pick every change up from a watch; nothing restarts.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "agentnet-webhook ca",
    about = "Manage the agentnet identity CAs"
)]
pub struct CaCli {
    /// Namespace of the release (where the CA Secret lives).
    #[arg(long, env = "AGENTNET_NAMESPACE")]
    pub namespace: String,

    #[arg(
        long = "secret",
        env = "AGENTNET_IDENTITY_CA_SECRET",
        default_value = "agentnet-identity-ca"
    )]
    pub secret: String,

    /// Kubeconfig to use instead of the in-cluster configuration.
    #[arg(long, env = "AGENTNET_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    #[command(subcommand)]
    pub command: CaCommand,
}

// === impl CaCli ===

impl CaCli {
    /// The `ca` command line, when the first argument is `ca` (exits on bad usage).
    pub fn from_args() -> Option<Self> {
        let mut args = std::env::args_os();
        let program = args.next()?;
        let first = args.next()?;
        (first == "ca").then(|| Self::parse_from(std::iter::once(program).chain(args)))
    }
}

#[derive(Clone, Debug, Subcommand)]
pub enum CaCommand {
    /// Lists the CAs: id, signer or not, subject, expiry.
    List,
    /// Generates a new root and trusts it at once (it does not sign yet). Prints its id.
    AddRoot {
        /// Id of the new CA (default: root-<date>-<random>).
        #[arg(long)]
        id: Option<String>,
    },
    /// Makes CA `id` (which must hold a key) the one that signs new certificates.
    UseSigner { id: String },
    /// Stops trusting CA `id` (never the signer). Wait until every certificate it
    /// signed has expired (--identity-max-lifetime after use-signer).
    RemoveRoot { id: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[&str]) -> Result<IdentityConfig, clap::Error> {
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            identity: IdentityConfig,
        }
        let args = std::iter::once("test").chain(extra.iter().copied());
        Wrapper::try_parse_from(args).map(|w| w.identity)
    }

    #[test]
    fn defaults_are_one_hour_capped_at_a_day_on_port_8444() {
        let c = config(&[]).unwrap();
        c.validate().unwrap();
        assert_eq!(c.default_lifetime, Duration::from_secs(3600));
        assert_eq!(c.max_lifetime, Duration::from_secs(86400));
        assert_eq!(c.listen_addr.port(), 8444);
        assert!(c.enabled && c.ca_generate && !c.pod_certificates);
    }

    #[test]
    fn default_lifetime_above_the_maximum_is_refused() {
        let c = config(&[
            "--identity-default-lifetime=2h",
            "--identity-max-lifetime=1h",
        ])
        .unwrap();
        assert!(matches!(
            c.validate(),
            Err(IdentityConfigError::Lifetimes { .. })
        ));
        let c = config(&["--identity-max-lifetime=48h"]).unwrap();
        assert!(c.validate().is_err(), "longer than a day");
        let c = config(&["--identity-default-lifetime=10s"]).unwrap();
        assert!(c.validate().is_err(), "shorter than a minute");
    }

    #[test]
    fn ca_cli_parses_rotation_commands() {
        let cli = CaCli::try_parse_from(["ca", "--namespace=ns", "use-signer", "root-2"]).unwrap();
        assert_eq!(cli.secret, "agentnet-identity-ca");
        assert!(matches!(cli.command, CaCommand::UseSigner { id } if id == "root-2"));
        assert!(CaCli::try_parse_from(["ca", "--namespace=ns", "remove-root"]).is_err());
    }
}
