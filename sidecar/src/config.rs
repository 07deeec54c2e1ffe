//! The one `Config` of agentnet-sidecar. Every flag has an `AGENTNET_*` environment
//! twin (the names the webhook sets are in `agentnet_api::contract::env`); this is the
//! only module that reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use agentnet_api::contract::{self, env};
use agentnet_policy::{BackendDefault, Source};
use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

mod mesh;

pub use mesh::{CertificateSource, InboundBackend, MeshConfig, MeshError};

/// The command line: run the proxy (the default), or explain a decision.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "agentnet-sidecar",
    version,
    about = "agentnet sidecar: mediates an agent's MCP and A2A calls by policy"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: Config,
}

#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// Ask a running sidecar (or evaluate a --config-dir) whether a call is allowed, and why.
    Explain(Box<crate::explain::ExplainArgs>),
    /// Ask a running sidecar whether it is ready, who it is and which policy it enforces.
    Status(crate::status::StatusArgs),
    /// Install the pod's traffic capture rules (the init container's job), or print them.
    Init(crate::capture::InitArgs),
}

/// How the proxy runs.
#[derive(Clone, Debug, Args, Serialize)]
pub struct Config {
    /// Outbound proxy listener: set HTTP_PROXY=http://<this> in the agent, or call
    /// http://<this>/backends/<namespace>/<name>/.
    #[arg(long, env = env::OUTBOUND_ADDR, default_value_t = SocketAddr::from(([127, 0, 0, 1], contract::OUTBOUND_PORT)))]
    pub outbound_addr: SocketAddr,

    /// Admin listener: /live, /ready, /metrics, /config, /explain.
    #[arg(long, env = env::ADMIN_ADDR, default_value_t = SocketAddr::from(([127, 0, 0, 1], contract::ADMIN_PORT)))]
    pub admin_addr: SocketAddr,

    /// Destinations that are no XBackend: `allow` forwards them unchanged, `deny`
    /// answers 403.
    #[arg(long, env = env::OUTBOUND_DEFAULT, value_enum, default_value_t = OutboundDefault::Allow)]
    pub outbound_default: OutboundDefault,

    /// XBackends that no accepted Allow policy governs: `allow` (upstream's default)
    /// or `deny`.
    #[arg(long, env = env::BACKEND_DEFAULT, value_parser = parse_backend_default, default_value = "allow")]
    #[serde(serialize_with = "serialize_backend_default")]
    pub backend_default: BackendDefault,

    /// How the agent's traffic arrives: `iptables` (the pod's capture rules redirect
    /// every outbound TCP connection here; its original destination decides) or
    /// `proxy-env` (only `HTTP_PROXY` and `/backends/` requests).
    #[arg(long, env = env::CAPTURE, value_enum, default_value_t = Capture::ProxyEnv)]
    pub capture: Capture,

    /// Destination ports passed through without inspection or policy (comma-separated).
    #[arg(long, env = env::EXCLUDE_OUTBOUND_PORTS, value_delimiter = ',', value_parser = parse_port_list_item)]
    pub exclude_outbound_ports: Vec<PortItem>,

    /// Standalone mode: read XBackend, XAccessPolicy, Service and EndpointSlice
    /// manifests from this directory (hot-reloaded) instead of watching Kubernetes.
    #[arg(long, env = "AGENTNET_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,

    /// How often --config-dir is checked for changes.
    #[arg(long, env = "AGENTNET_CONFIG_POLL_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde_compat")]
    pub config_poll_interval: Duration,

    /// The control plane's policy service (agentnet-webhook's identity URL): the
    /// policy is this identity's view, streamed from `<url>/v1/policy/view`. Needs a
    /// workload certificate source (the trust bundle verifies the server). Unset, and no
    /// --config-dir: the sidecar watches the API server itself (direct-watch mode, an
    /// opt-in that needs cluster-wide read access).
    #[arg(long, env = env::POLICY_URL)]
    pub policy_url: Option<String>,

    /// A policy the source has not confirmed (view or heartbeat) for this long is
    /// reported stale in /ready, /config and metrics; it is still enforced.
    #[arg(long, env = "AGENTNET_POLICY_STALE_AFTER", default_value = "60s", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde_compat")]
    pub policy_stale_after: Duration,

    /// Kubeconfig for direct-watch mode; default: in-cluster, then $KUBECONFIG.
    #[arg(long, env = "AGENTNET_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    #[command(flatten)]
    pub identity: IdentityConfig,

    #[command(flatten)]
    pub limits: LimitsConfig,

    /// Extra PEM CA certificates trusted for TLS to external (`hostname`) backends,
    /// in addition to the system roots.
    #[arg(long, env = "AGENTNET_UPSTREAM_CA_FILE")]
    pub upstream_ca_file: Option<PathBuf>,

    /// On SIGTERM/SIGINT: how long in-flight requests and streams may take to finish.
    #[arg(long, env = "AGENTNET_DRAIN_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde_compat")]
    pub drain_timeout: Duration,

    /// Async worker threads (the data path is light; two cover a busy agent).
    #[arg(long, env = "AGENTNET_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64).map(usize::from))]
    pub workers: usize,

    #[command(flatten)]
    pub log: LogConfig,

    #[command(flatten)]
    pub extensions: ExtensionsConfig,

    #[command(flatten)]
    pub mesh: MeshConfig,
}

/// ExternalAuth, rate limits and traces (docs/extensions.md).
#[derive(Clone, Debug, Args, Serialize)]
pub struct ExtensionsConfig {
    /// How long an ExternalAuth check may take, connecting included; past it the
    /// request is denied (fail closed).
    #[arg(long, env = "AGENTNET_EXTAUTH_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde_compat")]
    pub extauth_timeout: Duration,

    /// Rate-limit buckets kept at most (one per limit and distinct key).
    #[arg(long, env = "AGENTNET_RATE_LIMIT_MAX_KEYS", default_value_t = crate::request::ratelimit::DEFAULT_MAX_KEYS)]
    pub rate_limit_max_keys: usize,

    /// Redis for `Global` rate limits (`redis://host:6379`), shared by every sidecar;
    /// unset: requests a Global limit applies to are refused.
    #[arg(long, env = "AGENTNET_RATE_LIMIT_REDIS_URL", value_parser = secret_url)]
    pub rate_limit_redis_url: Option<SecretUrl>,

    /// OTLP/gRPC endpoint for traces, e.g. http://otel-collector:4317. Unset: tracing
    /// is off and costs nothing.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_parser = secret_url)]
    pub otlp_endpoint: Option<SecretUrl>,
}

/// A URL that may carry credentials (`redis://:password@host`): shown (`/config`, the
/// start-up log, `Debug`) with its userinfo replaced by `***`, used as given.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

fn secret_url(s: &str) -> Result<SecretUrl, String> {
    Ok(SecretUrl(s.to_owned()))
}

/// Who this sidecar's agent is. Until workload certificates exist, a flag says so.
#[derive(Clone, Debug, Args, Serialize)]
pub struct IdentityConfig {
    /// The agent's SPIFFE ID; overrides --namespace/--service-account.
    #[arg(long, env = "AGENTNET_SPIFFE_ID")]
    pub spiffe_id: Option<String>,

    /// The agent's namespace (also the namespace short Service names resolve in).
    #[arg(long, env = env::POD_NAMESPACE)]
    pub namespace: Option<String>,

    /// The agent's ServiceAccount: with --namespace, the SPIFFE ID
    /// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.
    #[arg(long, env = env::SERVICE_ACCOUNT)]
    pub service_account: Option<String>,

    /// SPIFFE trust domain of ServiceAccount identities.
    #[arg(long, env = env::TRUST_DOMAIN, default_value = contract::DEFAULT_TRUST_DOMAIN)]
    pub trust_domain: String,

    /// Cluster DNS domain of Service names.
    #[arg(long, env = env::CLUSTER_DOMAIN, default_value = "cluster.local")]
    pub cluster_domain: String,
}

/// Bounds on what the sidecar reads and holds.
#[derive(Clone, Debug, Args, Serialize)]
pub struct LimitsConfig {
    /// Largest request body inspected; a larger one gets 413 and is never forwarded.
    #[arg(long, env = "AGENTNET_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest tools/prompts/resources list response (or SSE event) that is filtered;
    /// a larger one is not passed on unfiltered: the call fails with 502.
    #[arg(long, env = "AGENTNET_MAX_LIST_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_list_bytes: usize,

    /// Timeout for connecting to an upstream.
    #[arg(long, env = "AGENTNET_CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
}

#[derive(Clone, Debug, Args, Serialize)]
pub struct LogConfig {
    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives.
    #[arg(long = "log", env = env::LOG, default_value = "info")]
    pub filter: String,

    /// Log format.
    #[arg(long, env = env::LOG_FORMAT, value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,

    /// Write one JSON audit line per decision (target `agentnet::audit`).
    #[arg(long, env = "AGENTNET_AUDIT", default_value_t = true, action = clap::ArgAction::Set)]
    pub audit: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboundDefault {
    Allow,
    Deny,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capture {
    Iptables,
    ProxyEnv,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Plain,
}

/// One entry of the excluded-ports list; the webhook passes an empty list as "".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PortItem(pub Option<u16>);

/// A cross-field rule `Config` breaks.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--spiffe-id {0}")]
    SpiffeId(agentnet_policy::SourceError),
    #[error("--service-account needs --namespace ({})", env::POD_NAMESPACE)]
    ServiceAccountWithoutNamespace,
    #[error("--namespace/--service-account: {0}")]
    ServiceAccount(agentnet_policy::SourceError),
    #[error("--outbound-addr and --admin-addr are both {0}")]
    SameAddress(SocketAddr),
    #[error("--max-body-bytes and --max-list-bytes must be greater than 0")]
    ZeroLimit,
    #[error("--config-dir {0} is not a directory")]
    ConfigDir(String),
    #[error("--policy-url {0:?} must be an https:// URL")]
    PolicyUrl(String),
    #[error(
        "--policy-url needs a workload certificate source (--identity-url or --pod-certificate-file): its trust bundle verifies the policy service"
    )]
    PolicyUrlWithoutTrust,
    #[error(transparent)]
    Mesh(#[from] MeshError),
}

// === impl SecretUrl ===

impl SecretUrl {
    /// The URL itself, credentials included: only for the client that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any userinfo replaced.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        match rest[..end].rfind('@') {
            Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
            None => self.0.clone(),
        }
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

// === impl Config ===

impl Config {
    /// Cross-field rules, checked before anything binds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.source()?;
        self.mesh.validate(&self.identity)?;
        // Port 0 (any free port, as tests use) never collides.
        if self.outbound_addr == self.admin_addr && self.outbound_addr.port() != 0 {
            return Err(ConfigError::SameAddress(self.outbound_addr));
        }
        if self.limits.max_body_bytes == 0 || self.limits.max_list_bytes == 0 {
            return Err(ConfigError::ZeroLimit);
        }
        if let Some(dir) = &self.config_dir
            && !dir.is_dir()
        {
            return Err(ConfigError::ConfigDir(dir.display().to_string()));
        }
        if let Some(url) = self.policy_url() {
            if !url.starts_with("https://") {
                return Err(ConfigError::PolicyUrl(url.to_owned()));
            }
            if self.mesh.certificate_source().is_none() {
                return Err(ConfigError::PolicyUrlWithoutTrust);
            }
        }
        Ok(())
    }

    /// The policy service URL; an empty one (as an unset chart value renders) is unset.
    pub fn policy_url(&self) -> Option<&str> {
        self.policy_url.as_deref().filter(|u| !u.is_empty())
    }

    /// The agent's identity: --spiffe-id, else namespace + ServiceAccount, else anonymous.
    pub fn source(&self) -> Result<Source, ConfigError> {
        let IdentityConfig {
            spiffe_id,
            namespace,
            service_account,
            trust_domain,
            cluster_domain: _,
        } = &self.identity;
        match (spiffe_id, namespace, service_account) {
            (Some(id), _, _) => Source::from_spiffe_id(id).map_err(ConfigError::SpiffeId),
            (None, Some(ns), Some(sa)) => {
                Source::service_account(trust_domain, ns, sa).map_err(ConfigError::ServiceAccount)
            }
            (None, None, Some(_)) => Err(ConfigError::ServiceAccountWithoutNamespace),
            (None, _, None) => Ok(Source::anonymous()),
        }
    }

    /// The ports passed through uninspected.
    pub fn excluded_ports(&self) -> Vec<u16> {
        self.exclude_outbound_ports
            .iter()
            .filter_map(|p| p.0)
            .collect()
    }
}

// === impl IdentityConfig ===

impl IdentityConfig {
    /// The policy engine's settings: these domains and the backend default.
    pub fn settings(&self, backend_default: BackendDefault) -> agentnet_policy::Settings {
        let (trust_domain, cluster_domain) =
            (self.trust_domain.clone(), self.cluster_domain.clone());
        agentnet_policy::Settings {
            trust_domain,
            cluster_domain,
            backend_default,
        }
    }
}

fn parse_backend_default(s: &str) -> Result<BackendDefault, String> {
    s.parse()
        .map_err(|e: agentnet_policy::BackendDefaultError| e.to_string())
}

fn serialize_backend_default<S: serde::Serializer>(
    d: &BackendDefault,
    s: S,
) -> Result<S::Ok, S::Error> {
    d.serialize(s)
}

fn parse_port_list_item(s: &str) -> Result<PortItem, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(PortItem(None));
    }
    match s.parse::<u16>() {
        Ok(p) if p != 0 => Ok(PortItem(Some(p))),
        _ => Err(format!("{s:?} is not a port (1-65535)")),
    }
}

/// Durations serialize as humantime text ("5s") in `/config`.
mod humantime_serde_compat {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

#[cfg(test)]
mod tests;
