//! The one `Config` of agentnet-webhook. Every flag has an `AGENTNET_*` environment
//! twin; this is the only module that reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use agentnet_api::contract;
use clap::{Args, Parser, ValueEnum};

use crate::mutate::quantity::Quantity;
use crate::mutate::tuning::{CaptureMode, DefaultAction, LogLevel, parse_cert_lifetime};

mod identity;
mod status;

pub use identity::{CaCli, CaCommand, IdentityConfig, IdentityConfigError};
pub use status::{DEFAULT_CONTROLLER_NAME, StatusConfig, StatusConfigError};

/// The one CRD with two versions, converted by `/convert`.
pub const XACCESSPOLICY_CRD: &str = "xaccesspolicies.agentic.networking.x-k8s.io";

#[derive(Clone, Debug, Parser)]
#[command(
    name = "agentnet-webhook",
    version,
    about = "agentnet admission webhook"
)]
pub struct Config {
    /// TLS listener serving /mutate and /convert.
    #[arg(long, env = "AGENTNET_LISTEN_ADDR", default_value = "0.0.0.0:8443")]
    pub listen_addr: SocketAddr,

    /// Plain-HTTP listener serving /metrics, /healthz and /readyz.
    #[arg(long, env = "AGENTNET_METRICS_ADDR", default_value = "0.0.0.0:9090")]
    pub metrics_addr: SocketAddr,

    /// Loopback-only listener for operators: `/debug/sidecars` (the sidecars connected
    /// to this replica's policy service), read by `agentnet-webhook proxy-status`.
    #[arg(long, env = "AGENTNET_DEBUG_ADDR", default_value = "127.0.0.1:9091")]
    pub debug_addr: SocketAddr,

    /// Kubeconfig to use instead of the in-cluster configuration.
    #[arg(long, env = "AGENTNET_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// The namespace the webhook runs in: it holds the TLS Secret and is never injected.
    #[arg(long, env = "AGENTNET_NAMESPACE")]
    pub namespace: String,

    /// This replica's name, reported on Events.
    #[arg(long, env = "AGENTNET_INSTANCE", default_value = "agentnet-webhook")]
    pub instance: String,

    /// More namespaces never injected (kube-system and --namespace always are).
    #[arg(long, env = "AGENTNET_EXCLUDED_NAMESPACES", value_delimiter = ',')]
    pub excluded_namespaces: Vec<String>,

    #[command(flatten)]
    pub serving: ServingConfig,

    #[command(flatten)]
    pub sidecar: SidecarConfig,

    #[command(flatten)]
    pub status: StatusConfig,

    #[command(flatten)]
    pub identity: IdentityConfig,

    #[command(flatten)]
    pub log: LogConfig,
}

/// How the webhook is reached and where its serving certificate comes from.
#[derive(Clone, Debug, Args)]
pub struct ServingConfig {
    /// The Service in front of the webhook (certificate names, CRD conversion target).
    #[arg(
        long,
        env = "AGENTNET_SERVICE_NAME",
        default_value = "agentnet-webhook"
    )]
    pub service_name: String,

    /// The Service's port.
    #[arg(long, env = "AGENTNET_SERVICE_PORT", default_value_t = 443)]
    pub service_port: u16,

    /// Base URL the API server calls instead of the Service (local development), e.g.
    /// `https://127.0.0.1:8443`. Its host is added to the certificate's names.
    #[arg(long, env = "AGENTNET_WEBHOOK_URL", value_parser = parse_webhook_url)]
    pub webhook_url: Option<http::Uri>,

    /// MutatingWebhookConfiguration whose caBundle this webhook maintains.
    #[arg(
        long,
        env = "AGENTNET_MUTATING_WEBHOOK",
        default_value = "agentnet-webhook"
    )]
    pub mutating_webhook: String,

    /// Point the XAccessPolicy CRD's conversion webhook at this webhook's `/convert`.
    /// Only one release per cluster may do this.
    #[arg(long, env = "AGENTNET_MANAGE_CRD_CONVERSION", default_value_t = true, action = clap::ArgAction::Set)]
    pub manage_crd_conversion: bool,

    /// `self-signed`: generate a CA and certificate, share them through a Secret and
    /// publish the caBundle. `files`: read --tls-cert-file/--tls-key-file (cert-manager).
    #[arg(long, env = "AGENTNET_TLS_MODE", value_enum, default_value_t = TlsMode::SelfSigned)]
    pub tls_mode: TlsMode,

    /// Secret (in --namespace) holding the self-signed CA and serving certificate.
    #[arg(
        long,
        env = "AGENTNET_TLS_SECRET",
        default_value = "agentnet-webhook-tls"
    )]
    pub tls_secret: String,

    #[arg(
        long,
        env = "AGENTNET_TLS_CERT_FILE",
        default_value = "/etc/agentnet/tls/tls.crt"
    )]
    pub tls_cert_file: PathBuf,

    #[arg(
        long,
        env = "AGENTNET_TLS_KEY_FILE",
        default_value = "/etc/agentnet/tls/tls.key"
    )]
    pub tls_key_file: PathBuf,

    /// In `files` mode, the CA to publish into the CRD's conversion webhook (cert-manager
    /// writes `ca.crt`; its cainjector handles the webhook configuration).
    #[arg(long, env = "AGENTNET_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,

    /// Extra DNS names or IP addresses for the self-signed serving certificate.
    #[arg(long, env = "AGENTNET_TLS_EXTRA_SANS", value_delimiter = ',')]
    pub tls_extra_sans: Vec<String>,

    /// How often the certificate source is re-read and the caBundles re-applied.
    #[arg(long, env = "AGENTNET_CERT_CHECK_INTERVAL", default_value = "1m", value_parser = humantime::parse_duration)]
    pub cert_check_interval: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TlsMode {
    SelfSigned,
    Files,
}

/// What the injected sidecar looks like; pod and namespace annotations override the
/// tunable parts.
#[derive(Clone, Debug, Args)]
pub struct SidecarConfig {
    #[arg(long, env = "AGENTNET_SIDECAR_IMAGE")]
    pub sidecar_image: String,

    #[arg(long, env = "AGENTNET_SIDECAR_IMAGE_PULL_POLICY", value_enum, default_value_t = PullPolicy::IfNotPresent)]
    pub sidecar_image_pull_policy: PullPolicy,

    /// Arguments of the sidecar container: `--sidecar-arg` once per argument, or
    /// `AGENTNET_SIDECAR_ARGS` as a JSON array of strings. Never split on commas, so
    /// `--log=info,agentnet=debug` stays one argument.
    #[arg(long = "sidecar-arg", env = "AGENTNET_SIDECAR_ARGS", value_parser = parse_arg_list)]
    pub sidecar_args: Vec<ArgList>,

    /// Recorded in the `agentnet.dev/sidecar-version` annotation.
    #[arg(long, env = "AGENTNET_SIDECAR_VERSION", default_value = env!("CARGO_PKG_VERSION"))]
    pub sidecar_version: String,

    /// UID and GID the sidecar runs as (never root). The capture rules exempt this UID,
    /// so pods whose app containers run as it are refused.
    #[arg(long, env = "AGENTNET_SIDECAR_UID", default_value_t = i64::from(contract::PROXY_UID), value_parser = clap::value_parser!(i64).range(1..))]
    pub sidecar_uid: i64,

    /// How app traffic reaches the sidecar unless annotated otherwise: `iptables` (an
    /// init container with NET_ADMIN installs capture rules) or `proxy-env`.
    #[arg(long, env = "AGENTNET_CAPTURE", value_enum, default_value_t = CaptureMode::Iptables)]
    pub capture: CaptureMode,

    /// Sidecar resources unless annotated otherwise; unset means none (the chart sets
    /// requests 10m/32Mi and a 128Mi memory limit).
    #[arg(long, env = "AGENTNET_PROXY_CPU_REQUEST")]
    pub proxy_cpu_request: Option<Quantity>,
    #[arg(long, env = "AGENTNET_PROXY_CPU_LIMIT")]
    pub proxy_cpu_limit: Option<Quantity>,
    #[arg(long, env = "AGENTNET_PROXY_MEMORY_REQUEST")]
    pub proxy_memory_request: Option<Quantity>,
    #[arg(long, env = "AGENTNET_PROXY_MEMORY_LIMIT")]
    pub proxy_memory_limit: Option<Quantity>,

    /// The sidecar's log filter unless annotated otherwise.
    #[arg(long, env = "AGENTNET_SIDECAR_LOG_LEVEL", default_value = "info")]
    pub sidecar_log_level: LogLevel,

    #[arg(long, env = "AGENTNET_SIDECAR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub sidecar_log_format: LogFormat,

    /// Destinations that are no XBackend, unless annotated otherwise.
    #[arg(long, env = "AGENTNET_OUTBOUND_DEFAULT", value_enum, default_value_t = DefaultAction::Allow)]
    pub outbound_default: DefaultAction,

    /// XBackends with no accepted Allow policy (upstream: allow), unless annotated.
    #[arg(long, env = "AGENTNET_BACKEND_DEFAULT", value_enum, default_value_t = DefaultAction::Allow)]
    pub backend_default: DefaultAction,

    /// Workload certificate lifetime unless annotated otherwise.
    #[arg(long, env = "AGENTNET_CERT_LIFETIME", default_value = "1h", value_parser = parse_cert_lifetime)]
    pub cert_lifetime: Duration,

    #[arg(long, env = "AGENTNET_TRUST_DOMAIN", default_value = contract::DEFAULT_TRUST_DOMAIN)]
    pub trust_domain: String,

    #[arg(long, env = "AGENTNET_CLUSTER_DOMAIN", default_value = "cluster.local")]
    pub cluster_domain: String,

    /// Identity service URL given to sidecars (default: the webhook Service's identity
    /// port). Its host is added to the identity listener's certificate.
    #[arg(long, env = "AGENTNET_IDENTITY_URL")]
    pub identity_url: Option<String>,

    /// Where injected sidecars get their policy: `control-plane` (this webhook's policy
    /// service, at the identity URL; sidecars need no API-server access) or `kube`
    /// (each sidecar watches the API server itself: the opt-in direct-watch mode, which
    /// needs the chart's cluster-wide read grant).
    #[arg(long, env = "AGENTNET_SIDECAR_POLICY_SOURCE", value_enum, default_value_t = PolicySourceMode::ControlPlane)]
    pub sidecar_policy_source: PolicySourceMode,

    /// Lifetime of the projected ServiceAccount token (the API server's minimum is 10m).
    #[arg(long, env = "AGENTNET_TOKEN_EXPIRATION", default_value = "1h", value_parser = parse_token_expiration)]
    pub token_expiration: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicySourceMode {
    ControlPlane,
    Kube,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Plain,
}

/// The webhook's own logging.
#[derive(Clone, Debug, Args)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `info,agentnet_webhook=debug`.
    #[arg(long = "log", env = "AGENTNET_LOG", default_value = "info")]
    pub filter: String,

    #[arg(long = "log-format", env = "AGENTNET_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub format: LogFormat,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--proxy-{resource}-request {request} exceeds --proxy-{resource}-limit {limit}")]
    RequestAboveLimit {
        resource: &'static str,
        request: String,
        limit: String,
    },
    #[error("--namespace must not be empty")]
    NoNamespace,
    #[error(
        "--sidecar-policy-source=control-plane needs the policy service (--identity=true and --policy-service=true)"
    )]
    NoPolicyService,
    #[error(transparent)]
    Status(#[from] StatusConfigError),
    #[error(transparent)]
    Identity(#[from] IdentityConfigError),
}

// === impl Config ===

impl Config {
    /// Cross-field rules that single-flag parsing cannot check.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.namespace.is_empty() {
            return Err(ConfigError::NoNamespace);
        }
        self.status.validate()?;
        self.identity.validate()?;
        if self.policy_url().is_none()
            && self.sidecar.sidecar_policy_source == PolicySourceMode::ControlPlane
        {
            return Err(ConfigError::NoPolicyService);
        }
        let s = &self.sidecar;
        check_limit("cpu", &s.proxy_cpu_request, &s.proxy_cpu_limit)?;
        check_limit("memory", &s.proxy_memory_request, &s.proxy_memory_limit)
    }

    /// The identity service URL the sidecars get.
    pub fn identity_url(&self) -> String {
        match &self.sidecar.identity_url {
            Some(url) => url.clone(),
            None => format!(
                "https://{}.{}.svc:{}",
                self.serving.service_name, self.namespace, self.identity.service_port
            ),
        }
    }

    /// The policy service URL sidecars get: the identity URL, when they use the
    /// control plane and it serves policy.
    pub fn policy_url(&self) -> Option<String> {
        let i = &self.identity;
        (i.enabled
            && i.policy_service
            && self.sidecar.sidecar_policy_source == PolicySourceMode::ControlPlane)
            .then(|| self.identity_url())
    }

    /// CRDs whose conversion this webhook maintains.
    pub fn conversion_crds(&self) -> Vec<String> {
        if self.serving.manage_crd_conversion {
            vec![XACCESSPOLICY_CRD.to_owned()]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
impl Config {
    /// A configuration like the chart's defaults, plus `extra` flags.
    pub fn for_test(extra: &[&str]) -> Self {
        let mut args = vec![
            "agentnet-webhook",
            "--namespace=agentnet-system",
            "--sidecar-image=ghcr.io/agentnet-dev/agentnet-sidecar:0.1.0",
            "--sidecar-version=0.1.0",
            "--proxy-cpu-request=10m",
            "--proxy-memory-request=32Mi",
            "--proxy-memory-limit=128Mi",
        ];
        args.extend_from_slice(extra);
        match Self::try_parse_from(args) {
            Ok(config) => config,
            Err(e) => panic!("test configuration: {e}"),
        }
    }
}

fn check_limit(
    resource: &'static str,
    request: &Option<Quantity>,
    limit: &Option<Quantity>,
) -> Result<(), ConfigError> {
    match (request, limit) {
        (Some(r), Some(l)) if r.value() > l.value() => Err(ConfigError::RequestAboveLimit {
            resource,
            request: r.to_string(),
            limit: l.to_string(),
        }),
        _ => Ok(()),
    }
}

fn parse_webhook_url(value: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = value.parse().map_err(|e| format!("not a URL: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err("the API server only calls https:// webhook URLs".into());
    }
    if uri.host().is_none() {
        return Err("the URL has no host".into());
    }
    if uri.query().is_some() {
        return Err("webhook URLs may not have a query".into());
    }
    Ok(uri)
}

fn parse_token_expiration(value: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if d < Duration::from_secs(600) {
        return Err("the API server requires at least 10m".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests;

/// One `--sidecar-arg`, or the arguments of a JSON array (`AGENTNET_SIDECAR_ARGS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgList(pub Vec<String>);

/// A value starting with `[` is a JSON array of strings; anything else one argument.
fn parse_arg_list(value: &str) -> Result<ArgList, String> {
    if !value.trim_start().starts_with('[') {
        return Ok(ArgList(vec![value.to_owned()]));
    }
    serde_json::from_str(value)
        .map(ArgList)
        .map_err(|e| format!("not a JSON array of strings: {e}"))
}

impl SidecarConfig {
    /// The sidecar container's arguments, in order.
    pub fn args(&self) -> Vec<String> {
        self.sidecar_args.iter().flat_map(|a| a.0.clone()).collect()
    }
}
