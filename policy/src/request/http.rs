//! The HTTP facts of one request: method, path, query, destination and headers.

use std::borrow::Cow;

use super::RequestError;

/// The HTTP request as the caller sent it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// Upper-case method, e.g. `POST`.
    pub method: String,
    /// The path without the query, e.g. `/mcp`.
    pub path: String,
    /// The query without `?`, if any.
    pub query: Option<String>,
    /// The authority as sent (`host` or `host:port`): CEL's `request.host`.
    pub authority: String,
    /// The destination host: lower case, without port or trailing dot.
    pub host: String,
    /// The destination port.
    pub port: u16,
    pub headers: Headers,
}

/// Request headers with lower-case names, in arrival order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

// === impl HttpRequest ===

impl HttpRequest {
    /// Builds the facts from the request line and authority; `default_port` applies
    /// when the authority has none (80 for `http`, 443 for `https`).
    pub fn new(
        method: &str,
        path_and_query: &str,
        authority: &str,
        default_port: u16,
    ) -> Result<Self, RequestError> {
        let (host, port) = split_authority(authority, default_port)?;
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (path_and_query, None),
        };
        if !path.starts_with('/') {
            return Err(RequestError::Path(path_and_query.to_owned()));
        }
        Ok(HttpRequest {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query,
            authority: authority.to_owned(),
            host,
            port,
            headers: Headers::default(),
        })
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The path with its query, as Envoy's `request.path`.
    pub fn path_and_query(&self) -> Cow<'_, str> {
        match &self.query {
            Some(q) => Cow::Owned(format!("{}?{q}", self.path)),
            None => Cow::Borrowed(&self.path),
        }
    }
}

/// `host[:port]` or `[v6]:port` into the canonical host (see [`crate::authority`]) and
/// a port.
fn split_authority(authority: &str, default_port: u16) -> Result<(String, u16), RequestError> {
    let parsed = crate::authority::parse(authority, default_port)
        .map_err(|_| RequestError::Authority(authority.to_owned()))?;
    Ok((parsed.host.key(), parsed.port))
}

// === impl Headers ===

impl Headers {
    pub fn append(&mut self, name: &str, value: &str) {
        self.0.push((name.to_ascii_lowercase(), value.to_owned()));
    }

    /// All values of `name` joined with `,`, as Envoy presents repeated headers.
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        let mut values = self
            .0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v);
        let first = values.next()?;
        match values.next() {
            None => Some(Cow::Borrowed(first)),
            Some(second) => {
                let mut joined = format!("{first},{second}");
                values.for_each(|v| {
                    joined.push(',');
                    joined.push_str(v);
                });
                Some(Cow::Owned(joined))
            }
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// Distinct names, each with its joined value.
    pub fn iter_joined(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
        self.0.iter().enumerate().filter_map(|(i, (n, _))| {
            let first = self.0.iter().position(|(m, _)| m == n) == Some(i);
            first.then(|| (n.as_str(), self.get(n).unwrap_or_default()))
        })
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut headers = Headers::default();
        iter.into_iter()
            .for_each(|(n, v)| headers.append(n.as_ref(), v.as_ref()));
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_request_line_and_authority() {
        let r = HttpRequest::new("post", "/mcp?x=1", "Svc.NS:8080", 80).unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.query.as_deref()),
            ("POST", "/mcp", Some("x=1"))
        );
        assert_eq!(
            (r.host.as_str(), r.port, r.authority.as_str()),
            ("svc.ns", 8080, "Svc.NS:8080")
        );
        assert_eq!(r.path_and_query(), "/mcp?x=1");
        let r = HttpRequest::new("GET", "/", "example.com.", 443).unwrap();
        assert_eq!((r.host.as_str(), r.port), ("example.com", 443));
        let r = HttpRequest::new("GET", "/", "[::1]:9", 80).unwrap();
        assert_eq!((r.host.as_str(), r.port), ("::1", 9));
    }

    #[test]
    fn rejects_bad_authorities_and_paths() {
        for authority in ["", "host:", "host:0", "host:70000", "[::1", ":80"] {
            assert!(
                HttpRequest::new("GET", "/", authority, 80).is_err(),
                "{authority:?}"
            );
        }
        assert_eq!(
            HttpRequest::new("GET", "mcp", "h", 80),
            Err(RequestError::Path("mcp".into()))
        );
    }

    #[test]
    fn joins_repeated_headers_case_insensitively() {
        let h: Headers = [("X-A", "1"), ("x-b", "2"), ("x-a", "3")]
            .into_iter()
            .collect();
        assert_eq!(h.get("x-a").as_deref(), Some("1,3"));
        assert_eq!(h.get("X-B").as_deref(), Some("2"));
        assert!(h.contains("X-b") && !h.contains("x-c"));
        let joined: Vec<_> = h
            .iter_joined()
            .map(|(n, v)| (n.to_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            joined,
            [
                ("x-a".to_owned(), "1,3".to_owned()),
                ("x-b".to_owned(), "2".to_owned())
            ]
        );
    }
}
