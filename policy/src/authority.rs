//! The one canonical reading of an HTTP authority (`[userinfo@]host[:port]`), before any
//! backend is identified or any host rule matches: userinfo dropped, every numeric IPv4
//! spelling an inet_aton resolver accepts (`0x7f.1`, `2130706433`, `0177.0.0.1`) turned
//! into its dotted quad, IPv6 in its compressed form, names lower-cased without a
//! trailing dot. A host that a resolver could read in more than one way (percent
//! escapes, non-ASCII, zone ids, empty labels) is refused, not guessed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A host and port in canonical form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Authority {
    pub host: Host,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    Ip(IpAddr),
    /// Lower-case ASCII DNS name without a trailing dot.
    Name(String),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityError {
    #[error("empty host")]
    Empty,
    #[error("invalid port")]
    Port,
    #[error("invalid IPv6 literal")]
    Ipv6,
    #[error("a host name may only hold letters, digits, '-', '_' and '.'")]
    Name,
    #[error("a host made of numbers must be an IPv4 address")]
    Number,
}

/// Parses `authority`; `default_port` applies when it names none.
pub fn parse(authority: &str, default_port: u16) -> Result<Authority, AuthorityError> {
    // Userinfo never decides anything and is never forwarded.
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = split(hostport)?;
    let port = match port {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or(AuthorityError::Port)?,
        Some(_) => return Err(AuthorityError::Port),
        None => default_port,
    };
    Ok(Authority {
        host: parse_host(host)?,
        port,
    })
}

/// The host alone (no port), canonical; e.g. an SNI name or a `Host` value's host.
pub fn parse_host(host: &str) -> Result<Host, AuthorityError> {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6
            .parse::<Ipv6Addr>()
            .map(|ip| Host::Ip(IpAddr::V6(ip)))
            .map_err(|_| AuthorityError::Ipv6);
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() {
        return Err(AuthorityError::Empty);
    }
    // A name that ends in a number is an IPv4 address however spelled (the WHATWG URL
    // rule browsers and most clients follow), or nothing any two resolvers agree on.
    if name.rsplit('.').next().is_some_and(looks_numeric) {
        return numeric_ipv4(name)
            .map(|ip| Host::Ip(IpAddr::V4(ip)))
            .ok_or(AuthorityError::Number);
    }
    let valid = name.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if !valid {
        return Err(AuthorityError::Name);
    }
    Ok(Host::Name(name.to_ascii_lowercase()))
}

fn split(hostport: &str) -> Result<(&str, Option<&str>), AuthorityError> {
    if hostport.starts_with('[') {
        let end = hostport.find(']').ok_or(AuthorityError::Ipv6)?;
        let (host, rest) = hostport.split_at(end + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => rest
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or(AuthorityError::Port),
        };
    }
    Ok(match hostport.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (hostport, None),
    })
}

/// A name made only of numbers, as `inet_aton` (and so most resolvers and URL parsers)
/// reads it: one to four parts, each decimal, `0x` hexadecimal or `0`-prefixed octal;
/// the last part fills the remaining bytes.
fn numeric_ipv4(name: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 4 || !parts.iter().all(|p| looks_numeric(p)) {
        return None;
    }
    let values: Vec<u64> = parts.iter().map(|p| number(p)).collect::<Option<_>>()?;
    let (last, init) = values.split_last()?;
    if init.iter().any(|v| *v > 255) {
        return None;
    }
    let room = 8 * (4 - init.len() as u32);
    if room < 64 && *last >= 1u64 << room {
        return None;
    }
    let mut value: u64 = 0;
    for (i, v) in init.iter().enumerate() {
        value |= v << (8 * (3 - i));
    }
    Some(Ipv4Addr::from(u32::try_from(value | last).ok()?))
}

fn looks_numeric(part: &str) -> bool {
    let lower = part.to_ascii_lowercase();
    match lower.strip_prefix("0x") {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()),
    }
}

fn number(part: &str) -> Option<u64> {
    let lower = part.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        return if hex.is_empty() {
            Some(0)
        } else {
            u64::from_str_radix(hex, 16).ok()
        };
    }
    if part.len() > 1 && part.starts_with('0') {
        return u64::from_str_radix(&part[1..], 8).ok();
    }
    part.parse().ok()
}

// === impl Host ===

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

impl Host {
    /// The host as a lookup key: an IP without brackets, or the name.
    pub fn key(&self) -> String {
        match self {
            Host::Ip(ip) => ip.to_string(),
            Host::Name(name) => name.clone(),
        }
    }
}

// === impl Authority ===

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests;
