//! The head of an upstream request: its URI, HTTP/1.1, its Host, and no hop-by-hop
//! headers (RFC 9110 §7.6.1), which describe one connection and stop at the proxy.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Uri, Version};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Turns a client request's head into the upstream one: `uri`, HTTP/1.1, `host` (or
/// the client's own Host), no hop-by-hop headers.
pub fn prepare(parts: &mut http::request::Parts, uri: Uri, host: Option<HeaderValue>) {
    strip_hop_by_hop(&mut parts.headers);
    // HTTP/2 clients send no Host header, only the URI's authority.
    let client_authority = || {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    };
    let host = host
        .or_else(|| parts.headers.get(header::HOST).cloned())
        .or_else(client_authority);
    if let Some(host) = host {
        parts.headers.insert(header::HOST, host);
    }
    parts.uri = uri;
    parts.version = Version::HTTP_11;
}

/// Removes hop-by-hop headers, including those the Connection header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    for name in named {
        headers.remove(name);
    }
}
