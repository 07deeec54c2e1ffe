//! The L7 matchers upstream accepts but does not enforce: methods, paths, hosts and
//! ports (any one listed matches) and headers (all must match).

use agentnet_api::v1alpha1::{
    AuthorizationRule, HeaderMatchType, HttpHeaderMatch, HttpMethod, PathMatchType,
};
use regex::Regex;

use super::Mismatch;
use crate::request::HttpRequest;

/// Empty lists do not constrain.
#[derive(Debug, Default)]
pub(crate) struct HttpMatch {
    methods: Vec<&'static str>,
    paths: Vec<PathMatch>,
    headers: Vec<HeaderMatch>,
    hosts: Vec<HostMatch>,
    ports: Vec<u16>,
}

#[derive(Debug)]
enum PathMatch {
    Exact(String),
    /// Gateway API prefix semantics: whole segments, the trailing slash ignored.
    Prefix {
        bare: String,
        dir: String,
    },
    Regex(Regex),
}

#[derive(Debug)]
struct HeaderMatch {
    name: String,
    value: ValueMatch,
}

#[derive(Debug)]
enum ValueMatch {
    Exact(String),
    Regex(Regex),
}

#[derive(Debug)]
enum HostMatch {
    Exact(String),
    /// `*.example.com` as `.example.com`: any deeper name, not the apex.
    Suffix(String),
}

// === impl HttpMatch ===

impl HttpMatch {
    pub fn compile(rule: &AuthorizationRule) -> Result<Self, String> {
        let paths = rule
            .paths
            .iter()
            .flatten()
            .map(|p| PathMatch::compile(p.type_, &p.value));
        let headers = rule.headers.iter().flatten().map(HeaderMatch::compile);
        let ports = rule.ports.iter().flatten().map(|p| {
            u16::try_from(*p)
                .ok()
                .filter(|p| *p != 0)
                .ok_or(format!("invalid port {p}"))
        });
        Ok(HttpMatch {
            methods: rule.methods.iter().flatten().map(method_name).collect(),
            paths: paths.collect::<Result<_, _>>()?,
            headers: headers.collect::<Result<_, _>>()?,
            hosts: rule
                .hosts
                .iter()
                .flatten()
                .map(|h| HostMatch::new(h))
                .collect(),
            ports: ports.collect::<Result<_, _>>()?,
        })
    }

    /// Whether only the destination (hosts, ports) is constrained: what a CONNECT
    /// tunnel still lets the sidecar see.
    pub fn is_destination_only(&self) -> bool {
        self.methods.is_empty() && self.paths.is_empty() && self.headers.is_empty()
    }

    pub fn matches(&self, http: &HttpRequest) -> Result<(), Mismatch> {
        check(&self.methods, Mismatch::HttpMethod, |m| *m == http.method)?;
        check(&self.paths, Mismatch::Path, |p| p.matches(&http.path))?;
        check(&self.hosts, Mismatch::Host, |h| h.matches(&http.host))?;
        check(&self.ports, Mismatch::Port, |p| *p == http.port)?;
        match self.headers.iter().find(|h| !h.matches(http)) {
            Some(h) => Err(Mismatch::Header(h.name.clone())),
            None => Ok(()),
        }
    }
}

fn check<T>(list: &[T], mismatch: Mismatch, matches: impl Fn(&T) -> bool) -> Result<(), Mismatch> {
    if list.is_empty() || list.iter().any(matches) {
        Ok(())
    } else {
        Err(mismatch)
    }
}

fn method_name(m: &HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "GET",
        HttpMethod::Head => "HEAD",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Connect => "CONNECT",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Trace => "TRACE",
        HttpMethod::Patch => "PATCH",
    }
}

/// Regexes match the whole value, as Envoy's safe_regex does.
fn full_match(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))
}

// === impl PathMatch ===

impl PathMatch {
    fn compile(type_: PathMatchType, value: &str) -> Result<Self, String> {
        Ok(match type_ {
            PathMatchType::Exact => PathMatch::Exact(value.to_owned()),
            PathMatchType::PathPrefix => {
                let bare = value.trim_end_matches('/').to_owned();
                PathMatch::Prefix {
                    dir: format!("{bare}/"),
                    bare,
                }
            }
            PathMatchType::RegularExpression => PathMatch::Regex(full_match(value)?),
        })
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix { bare, dir } => {
                bare.is_empty() || path == bare || path.starts_with(dir.as_str())
            }
            PathMatch::Regex(re) => re.is_match(path),
        }
    }
}

// === impl HeaderMatch ===

impl HeaderMatch {
    fn compile(h: &HttpHeaderMatch) -> Result<Self, String> {
        let value = match h.type_ {
            HeaderMatchType::Exact => ValueMatch::Exact(h.value.clone()),
            HeaderMatchType::RegularExpression => ValueMatch::Regex(full_match(&h.value)?),
        };
        Ok(HeaderMatch {
            name: h.name.to_ascii_lowercase(),
            value,
        })
    }

    fn matches(&self, http: &HttpRequest) -> bool {
        let Some(value) = http.headers.get(&self.name) else {
            return false;
        };
        match &self.value {
            ValueMatch::Exact(v) => *v == value,
            ValueMatch::Regex(re) => re.is_match(&value),
        }
    }
}

// === impl HostMatch ===

impl HostMatch {
    fn new(host: &str) -> Self {
        let host = host.to_ascii_lowercase();
        match host.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') => HostMatch::Suffix(suffix.to_owned()),
            _ => HostMatch::Exact(host),
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Exact(h) => h == host,
            HostMatch::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        }
    }
}

#[cfg(test)]
mod tests;
