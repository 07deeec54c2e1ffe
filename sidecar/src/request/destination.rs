//! Where a request asks to go: an absolute-form URI (`HTTP_PROXY` clients),
//! `/backends/<namespace>/<name>/<rest>` (clients that know the sidecar), a CONNECT
//! authority, or, on a connection the capture rules redirected, its original
//! destination with the Host the request names.

use http::Method;
use http::request::Parts;

/// The path prefix that names an XBackend directly.
pub const BACKENDS_PREFIX: &str = "/backends/";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `http://host[:port]/path`: `authority` as sent, the path with its query.
    Absolute { authority: String, path: String },
    /// `/backends/<namespace>/<name><rest>`; `rest` starts with `/` (or is empty).
    Named {
        namespace: String,
        name: String,
        rest: String,
    },
    /// `CONNECT host:port`.
    Connect { authority: String },
    /// A request on a captured connection: where the connection was going (its
    /// original destination), the Host it names, and the path with its query.
    Captured {
        to: std::net::SocketAddr,
        host: Option<String>,
        path: String,
    },
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error(
        "not a proxy request: send absolute-form requests (set HTTP_PROXY) or use /backends/<namespace>/<name>/"
    )]
    NotProxied,
    #[error("only http:// URIs are proxied; use CONNECT for https")]
    Scheme,
    #[error("CONNECT needs a host:port authority")]
    ConnectAuthority,
    #[error("invalid backend reference {0:?}: expected /backends/<namespace>/<name>/")]
    BackendRef(String),
    #[error(
        "the path {0:?} has dot segments or encoded separators, which the sidecar does not forward"
    )]
    Path(String),
    #[error(
        "CONNECT on a captured connection to {0} is refused: the sidecar cannot see inside the tunnel"
    )]
    CapturedConnect(std::net::SocketAddr),
}

/// Parses the request line. `/backends/` is recognized in origin form and, for HTTP/2
/// clients (whose requests always carry an authority), when sent to a loopback host.
pub fn parse(parts: &Parts) -> Result<Target, TargetError> {
    let uri = &parts.uri;
    if parts.method == Method::CONNECT {
        let authority = uri
            .authority()
            .filter(|a| a.port_u16().is_some())
            .ok_or(TargetError::ConnectAuthority)?;
        return Ok(Target::Connect {
            authority: authority.as_str().to_owned(),
        });
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let named = path.starts_with(BACKENDS_PREFIX) && uri.host().is_none_or(is_loopback);
    if named {
        return named_target(path);
    }
    let authority = uri.authority().ok_or(TargetError::NotProxied)?;
    if uri.scheme_str() != Some("http") {
        return Err(TargetError::Scheme);
    }
    check_path(path)?;
    Ok(Target::Absolute {
        authority: authority.as_str().to_owned(),
        path: path.to_owned(),
    })
}

/// A request on a connection the capture rules redirected from `to`. Its URI authority
/// (an HTTP/2 `:authority`, or absolute form) or else its Host names the host; the
/// connection's destination, not that name, decides where it goes.
pub fn captured(parts: &Parts, to: std::net::SocketAddr) -> Result<Target, TargetError> {
    if parts.method == Method::CONNECT {
        return Err(TargetError::CapturedConnect(to));
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    check_path(path)?;
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            let host = parts.headers.get(http::header::HOST)?;
            host.to_str().ok().map(str::to_owned)
        });
    Ok(Target::Captured {
        to,
        host,
        path: path.to_owned(),
    })
}

fn named_target(path: &str) -> Result<Target, TargetError> {
    let rest = &path[BACKENDS_PREFIX.len()..];
    let bad = || TargetError::BackendRef(path.to_owned());
    let (namespace, rest) = rest.split_once('/').ok_or_else(bad)?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (name, rest) = rest.split_at(end);
    if !is_dns_label(namespace) || !is_dns_subdomain(name) {
        return Err(bad());
    }
    check_path(rest)?;
    Ok(Target::Named {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        rest: rest.to_owned(),
    })
}

/// Dot segments and encoded `/`, `\` or `.` could make a path rule see one path and
/// the server another; such requests are refused rather than normalized.
pub(crate) fn check_path(path_and_query: &str) -> Result<(), TargetError> {
    let path = path_and_query.split('?').next().unwrap_or_default();
    let lower = path.to_ascii_lowercase();
    let dot_segment = path.split('/').any(|s| s == "." || s == "..");
    let encoded = ["%2f", "%5c", "%2e"].iter().any(|e| lower.contains(e));
    if dot_segment || encoded || path.contains('\\') {
        return Err(TargetError::Path(path.to_owned()));
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// The URI path of a `/backends/` request upstream: `rest`, or the backend's own
/// endpoint path when `rest` is empty or `/` (or only a query).
pub fn upstream_path(rest: &str, backend_path: &str) -> String {
    match rest.strip_prefix('/').unwrap_or(rest) {
        "" => backend_path.to_owned(),
        q if q.starts_with('?') => format!("{backend_path}{q}"),
        _ => rest.to_owned(),
    }
}

#[cfg(test)]
mod tests;
