//! Workload identity and mTLS flags: where the certificate comes from (the identity
//! service, or a PodCertificate file), the trust bundle, and the inbound listener.
//! With neither `--identity-url` nor `--pod-certificate-file` the sidecar has no
//! certificate (standalone), and its identity comes from the identity flags alone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use agentnet_api::contract::{self, env, mount};
use clap::Args;
use serde::Serialize;

use super::{IdentityConfig, humantime_serde_compat};

#[derive(Clone, Debug, Args, Serialize)]
pub struct MeshConfig {
    /// Identity service (agentnet-webhook) that certifies this workload:
    /// POST <url>/v1/certify. Unset (and no --pod-certificate-file): no certificate.
    #[arg(long, env = env::IDENTITY_URL)]
    pub identity_url: Option<String>,

    /// The projected ServiceAccount token (audience agentnet), re-read per request.
    #[arg(long, env = env::TOKEN_FILE, default_value = mount::TOKEN_FILE)]
    pub token_file: PathBuf,

    /// PEM roots that every certificate (ours, peers', the identity service's) must
    /// chain to; re-read when it changes.
    #[arg(long, env = env::TRUST_BUNDLE_FILE, default_value = mount::TRUST_BUNDLE_FILE)]
    pub trust_bundle_file: PathBuf,

    /// Lifetime asked of the identity service (at least 1m); unset: its default.
    #[arg(long, env = env::CERT_LIFETIME, value_parser = parse_lifetime)]
    #[serde(serialize_with = "serialize_optional_duration")]
    pub cert_lifetime: Option<Duration>,

    /// PodCertificate mode: the kubelet-written key and chain (one PEM file), used
    /// instead of the identity service.
    #[arg(long, env = env::POD_CERTIFICATE_FILE)]
    pub pod_certificate_file: Option<PathBuf>,

    /// How often the trust bundle and pod certificate files are checked for changes.
    #[arg(long, env = "AGENTNET_IDENTITY_POLL_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    #[serde(with = "humantime_serde_compat")]
    pub identity_poll_interval: Duration,

    /// Inbound mTLS listener (only with a certificate): peers' sidecars and other
    /// mesh clients call this workload here.
    #[arg(long, env = env::INBOUND_ADDR, default_value_t = SocketAddr::from(([0, 0, 0, 0], contract::INBOUND_PORT)))]
    pub inbound_addr: SocketAddr,

    /// The XBackend (namespace/name) whose policies inbound calls are decided by: the
    /// one whose Service selects this pod. Unset: inbound calls are refused.
    #[arg(long, env = env::INBOUND_BACKEND, value_parser = parse_backend)]
    pub inbound_backend: Option<InboundBackend>,

    /// Where allowed inbound calls go: the app's address in the pod, e.g. 127.0.0.1:8080.
    #[arg(long, env = env::INBOUND_FORWARD)]
    pub inbound_forward: Option<SocketAddr>,
}

/// `namespace/name` of an XBackend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct InboundBackend {
    pub namespace: String,
    pub name: String,
}

/// Where the certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateSource {
    Certify { url: String },
    PodCertificate { file: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("--identity-url {0:?} must be an https:// URL")]
    IdentityUrl(String),
    #[error(
        "a workload certificate (--identity-url or --pod-certificate-file) needs --namespace and --service-account ({}, {})",
        env::POD_NAMESPACE,
        env::SERVICE_ACCOUNT
    )]
    NoServiceAccount,
    #[error(
        "--spiffe-id cannot be combined with a workload certificate: the certificate names the identity"
    )]
    SpiffeIdWithCertificate,
    #[error("--inbound-backend and --inbound-forward go together")]
    InboundPair,
}

// === impl MeshConfig ===

impl MeshConfig {
    /// The certificate source; `None` in standalone mode. An empty URL (as an unset
    /// chart value renders) counts as unset.
    pub fn certificate_source(&self) -> Option<CertificateSource> {
        if let Some(file) = &self.pod_certificate_file {
            return Some(CertificateSource::PodCertificate { file: file.clone() });
        }
        let url = self.identity_url.as_deref().filter(|u| !u.is_empty())?;
        Some(CertificateSource::Certify {
            url: url.to_owned(),
        })
    }

    pub fn validate(&self, identity: &IdentityConfig) -> Result<(), MeshError> {
        if self.inbound_backend.is_some() != self.inbound_forward.is_some() {
            return Err(MeshError::InboundPair);
        }
        let Some(source) = self.certificate_source() else {
            return Ok(());
        };
        if let CertificateSource::Certify { url } = &source
            && !url.starts_with("https://")
        {
            return Err(MeshError::IdentityUrl(url.clone()));
        }
        if identity.spiffe_id.is_some() {
            return Err(MeshError::SpiffeIdWithCertificate);
        }
        if identity.namespace.is_none() || identity.service_account.is_none() {
            return Err(MeshError::NoServiceAccount);
        }
        Ok(())
    }
}

fn parse_lifetime(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    let min = contract::identity::MIN_LIFETIME_SECONDS;
    if d.as_secs() < min {
        return Err(format!("{s:?} is shorter than the minimum of {min}s"));
    }
    Ok(d)
}

fn parse_backend(s: &str) -> Result<InboundBackend, String> {
    match s.split_once('/') {
        Some((namespace, name))
            if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
        {
            Ok(InboundBackend {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
        }
        _ => Err(format!("{s:?} is not namespace/name")),
    }
}

fn serialize_optional_duration<S: serde::Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
        None => s.serialize_none(),
    }
}

impl From<InboundBackend> for String {
    fn from(b: InboundBackend) -> String {
        format!("{}/{}", b.namespace, b.name)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config::Cli;

    fn parse(args: &[&str]) -> Result<crate::config::Config, String> {
        let mut all = vec!["agentnet-sidecar"];
        all.extend_from_slice(args);
        let cli = Cli::try_parse_from(all).map_err(|e| e.to_string())?;
        cli.run.validate().map_err(|e| e.to_string())?;
        Ok(cli.run)
    }

    const SA: &[&str] = &["--namespace", "agents", "--service-account", "a"];

    #[test]
    fn identity_needs_a_service_account_and_an_https_url() {
        let url = [
            "--identity-url",
            "https://agentnet-webhook.agentnet-system.svc:8444",
        ];
        let with_sa = [SA, &url].concat();
        let config = parse(&with_sa).unwrap();
        assert!(config.mesh.certificate_source().is_some());
        assert!(parse(&url).unwrap_err().contains("--service-account"));
        let plain = [SA, &["--identity-url", "http://x:8444"]].concat();
        assert!(parse(&plain).unwrap_err().contains("https://"));
        let spiffe = [&url[..], &["--spiffe-id", "spiffe://td/x"]].concat();
        assert!(parse(&spiffe).unwrap_err().contains("--spiffe-id"));
        let empty = parse(&[SA, &["--identity-url", ""]].concat()).unwrap();
        assert!(
            empty.mesh.certificate_source().is_none(),
            "empty means unset"
        );
    }

    #[test]
    fn lifetimes_below_a_minute_and_half_an_inbound_pair_are_refused() {
        let short = [SA, &["--cert-lifetime", "30s"]].concat();
        assert!(parse(&short).unwrap_err().contains("minimum"));
        let two_minutes = parse(&[SA, &["--cert-lifetime", "2m"]].concat()).unwrap();
        assert_eq!(
            two_minutes.mesh.cert_lifetime.map(|d| d.as_secs()),
            Some(120)
        );
        let half = [SA, &["--inbound-backend", "agents/b"]].concat();
        assert!(parse(&half).unwrap_err().contains("together"));
        let bad = [SA, &["--inbound-backend", "b"]].concat();
        assert!(parse(&bad).unwrap_err().contains("namespace/name"));
        let both = [
            "--inbound-backend",
            "agents/b",
            "--inbound-forward",
            "127.0.0.1:80",
        ];
        let config = parse(&[SA, &both].concat()).unwrap();
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["mesh"]["inbound_backend"], "agents/b");
    }
}
