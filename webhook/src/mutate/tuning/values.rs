//! Parsing of single annotation (and flag) values; `None`/`Err` means invalid.

use std::str::FromStr;
use std::time::Duration;

/// `allow` or `deny`, for outbound and backend defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DefaultAction {
    Allow,
    Deny,
}

/// How an app's traffic reaches the sidecar (`agentnet.dev/capture`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CaptureMode {
    /// An init container redirects every outbound TCP connection (and inbound ones to an
    /// inbound backend's port) to the sidecar.
    Iptables,
    /// `HTTP_PROXY` and `/backends/` only: for clusters that forbid `NET_ADMIN`.
    ProxyEnv,
}

/// A sidecar log filter: a level, or `target=level` directives separated by commas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLevel(String);

const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace", "off"];
pub(super) const ACCEPT_LOG: &str = "error, warn, info, debug, trace, off, or comma-separated target=level directives such as info,agentnet=debug";
pub(super) const ACCEPT_ACTION: &str = "allow or deny";
pub(super) const ACCEPT_HOSTS: &str =
    "a comma-separated list of host names, .domain suffixes, IP addresses or CIDRs (not *)";
pub(super) const ACCEPT_PORTS: &str = "a comma-separated list of ports from 1 to 65535";
pub(super) const ACCEPT_LIFETIME: &str = "a duration from 1m to 24h, such as 30m or 1h";
pub(super) const ACCEPT_INBOUND_BACKEND: &str =
    "an XBackend name, or namespace/name (lowercase DNS labels)";
pub(super) const ACCEPT_PORT: &str = "a port from 1 to 65535";
pub(super) const ACCEPT_CAPTURE: &str = "iptables or proxy-env";
pub(super) const ACCEPT_CIDRS: &str =
    "a comma-separated list of CIDRs such as 10.0.0.0/8 or fd00::/8";
pub(super) const ACCEPT_QUANTITY: &str =
    "a Kubernetes quantity such as 100m or 0.5 (cpu), 64Mi or 1Gi (memory)";

const MIN_LIFETIME: Duration = Duration::from_secs(60);
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

// === impl DefaultAction ===

impl DefaultAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }

    pub(super) fn parse(value: &str) -> Option<Self> {
        match value {
            "allow" => Some(Self::Allow),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }
}

// === impl CaptureMode ===

impl CaptureMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iptables => "iptables",
            Self::ProxyEnv => "proxy-env",
        }
    }

    pub(super) fn parse(value: &str) -> Option<Self> {
        match value {
            "iptables" => Some(Self::Iptables),
            "proxy-env" => Some(Self::ProxyEnv),
            _ => None,
        }
    }
}

/// CIDRs, comma-separated; none of them empty or malformed.
pub(super) fn parse_cidrs(value: &str) -> Option<Vec<ipnet::IpNet>> {
    value.split(',').map(|c| c.trim().parse().ok()).collect()
}

// === impl LogLevel ===

impl LogLevel {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for LogLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.is_empty() && s.split(',').all(is_directive) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("{s:?} is not a log filter; accepted: {ACCEPT_LOG}"))
        }
    }
}

fn is_directive(d: &str) -> bool {
    let is_level = |l: &str| LEVELS.contains(&l.to_ascii_lowercase().as_str());
    match d.split_once('=') {
        None => is_level(d),
        Some((target, level)) => {
            let target_ok = target
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_:-.".contains(c));
            !target.is_empty() && target_ok && is_level(level)
        }
    }
}

/// A workload certificate lifetime within the bounds the identity service issues.
pub fn parse_cert_lifetime(value: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(value).map_err(|e| format!("{value:?}: {e}"))?;
    if (MIN_LIFETIME..=MAX_LIFETIME).contains(&d) {
        Ok(d)
    } else {
        Err(format!("{value:?} is outside {ACCEPT_LIFETIME}"))
    }
}

fn parse_list<T>(value: &str, item: impl Fn(&str) -> Option<T>) -> Option<Vec<T>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(item)
        .collect()
}

pub(super) fn parse_hosts(value: &str) -> Option<Vec<String>> {
    parse_list(value, |h| is_host_entry(h).then(|| h.to_owned()))
}

pub(super) fn parse_ports(value: &str) -> Option<Vec<u16>> {
    let mut ports = parse_list(value, |p| p.parse::<u16>().ok().filter(|p| *p > 0))?;
    ports.dedup();
    Some(ports)
}

/// What HTTP clients accept in `NO_PROXY`, except `*`, which would route every call
/// around the sidecar.
fn is_host_entry(h: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_:/[]".contains(c);
    let body = h.strip_prefix("*.").unwrap_or(h);
    h.len() <= 253 && !body.is_empty() && body.chars().all(allowed) && body != "."
}

/// `name` or `namespace/name` of an XBackend, as `namespace/name`.
pub(super) fn parse_inbound_backend(value: &str, pod_namespace: &str) -> Option<String> {
    let (ns, name) = value.split_once('/').unwrap_or((pod_namespace, value));
    (is_dns_label(ns) && is_dns_label(name)).then(|| format!("{ns}/{name}"))
}

pub(super) fn parse_port(value: &str) -> Option<u16> {
    value.parse::<u16>().ok().filter(|p| *p > 0)
}

fn is_dns_label(s: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    (1..=63).contains(&s.len()) && s.chars().all(ok) && !s.starts_with('-') && !s.ends_with('-')
}
