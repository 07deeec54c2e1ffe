//! Who is calling: a SPIFFE ID, and its namespace and ServiceAccount when it is a
//! Kubernetes workload identity (`spiffe://<trust-domain>/ns/<ns>/sa/<sa>`).

use std::fmt;
use std::sync::Arc;

/// The caller's verified identity. Cheap to clone: one is built per connection and
/// shared by every request on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Source(Option<Arc<Identity>>);

#[derive(Debug, PartialEq, Eq, Hash)]
struct Identity {
    spiffe_id: String,
    trust_domain_len: usize,
    kubernetes: Option<(String, String)>,
}

/// Why a string is not a SPIFFE ID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("SPIFFE ID {0:?} does not start with spiffe://")]
    Scheme(String),
    #[error(
        "SPIFFE ID {0:?} has an invalid trust domain (lowercase letters, digits, '.', '_', '-')"
    )]
    TrustDomain(String),
    #[error(
        "SPIFFE ID {0:?} has an invalid path (non-empty segments of letters, digits, '.', '_', '-')"
    )]
    Path(String),
}

/// The SPIFFE ID upstream derives from a ServiceAccount source.
pub fn service_account_spiffe_id(trust_domain: &str, namespace: &str, name: &str) -> String {
    format!("spiffe://{trust_domain}/ns/{namespace}/sa/{name}")
}

// === impl Source ===

impl Source {
    /// A caller without a verified certificate: only rules without a source admit it.
    pub fn anonymous() -> Self {
        Source(None)
    }

    /// Parses a SPIFFE ID (the URI SAN of the caller's certificate).
    pub fn from_spiffe_id(id: &str) -> Result<Self, SourceError> {
        let rest = id
            .strip_prefix("spiffe://")
            .ok_or_else(|| SourceError::Scheme(id.to_owned()))?;
        let (trust_domain, path) = rest.split_once('/').unwrap_or((rest, ""));
        if trust_domain.is_empty() || !trust_domain.bytes().all(is_trust_domain_byte) {
            return Err(SourceError::TrustDomain(id.to_owned()));
        }
        let segments: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        if segments
            .iter()
            .any(|s| s.is_empty() || !s.bytes().all(is_path_byte))
        {
            return Err(SourceError::Path(id.to_owned()));
        }
        let kubernetes = match segments.as_slice() {
            ["ns", ns, "sa", sa] => Some(((*ns).to_owned(), (*sa).to_owned())),
            _ => None,
        };
        Ok(Source(Some(Arc::new(Identity {
            spiffe_id: id.to_owned(),
            trust_domain_len: trust_domain.len(),
            kubernetes,
        }))))
    }

    /// A Kubernetes workload identity in `trust_domain`.
    pub fn service_account(
        trust_domain: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Self, SourceError> {
        Self::from_spiffe_id(&service_account_spiffe_id(trust_domain, namespace, name))
    }

    pub fn spiffe_id(&self) -> Option<&str> {
        self.0.as_ref().map(|i| i.spiffe_id.as_str())
    }

    pub fn trust_domain(&self) -> Option<&str> {
        let id = self.0.as_ref()?;
        id.spiffe_id
            .get("spiffe://".len().."spiffe://".len() + id.trust_domain_len)
    }

    /// The namespace of a Kubernetes identity (`/ns/<ns>/sa/<sa>`), in any trust domain.
    pub fn namespace(&self) -> Option<&str> {
        self.0
            .as_ref()?
            .kubernetes
            .as_ref()
            .map(|(ns, _)| ns.as_str())
    }

    /// The ServiceAccount of a Kubernetes identity, in any trust domain.
    pub fn service_account_name(&self) -> Option<&str> {
        self.0
            .as_ref()?
            .kubernetes
            .as_ref()
            .map(|(_, sa)| sa.as_str())
    }

    /// Namespace and ServiceAccount, only when the identity is in `trust_domain`: a
    /// federated domain's `/ns/prod/sa/x` is not our namespace `prod`.
    pub fn kubernetes_in(&self, trust_domain: &str) -> Option<(&str, &str)> {
        if self.trust_domain() != Some(trust_domain) {
            return None;
        }
        Some((self.namespace()?, self.service_account_name()?))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.spiffe_id() {
            Some(id) => f.write_str(id),
            None => f.write_str("an anonymous caller"),
        }
    }
}

fn is_trust_domain_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
}

fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubernetes_identities() {
        let s = Source::from_spiffe_id("spiffe://cluster.local/ns/team-a/sa/agent").unwrap();
        assert_eq!(s.trust_domain(), Some("cluster.local"));
        assert_eq!(s.namespace(), Some("team-a"));
        assert_eq!(s.service_account_name(), Some("agent"));
        assert_eq!(s.kubernetes_in("cluster.local"), Some(("team-a", "agent")));
        assert_eq!(s.kubernetes_in("example.org"), None);
    }

    #[test]
    fn keeps_other_spiffe_ids_without_kubernetes_parts() {
        for id in [
            "spiffe://example.com/my-service",
            "spiffe://example.com",
            "spiffe://td/ns/a/sa/b/c",
        ] {
            let s = Source::from_spiffe_id(id).unwrap();
            assert_eq!(s.spiffe_id(), Some(id));
            assert_eq!(s.namespace(), None, "{id}");
        }
    }

    #[test]
    fn rejects_malformed_spiffe_ids() {
        let cases = [
            (
                "http://cluster.local/ns/a/sa/b",
                SourceError::Scheme("http://cluster.local/ns/a/sa/b".into()),
            ),
            ("spiffe://", SourceError::TrustDomain("spiffe://".into())),
            (
                "spiffe://Upper/x",
                SourceError::TrustDomain("spiffe://Upper/x".into()),
            ),
            (
                "spiffe://td/a//b",
                SourceError::Path("spiffe://td/a//b".into()),
            ),
            ("spiffe://td/a/", SourceError::Path("spiffe://td/a/".into())),
            (
                "spiffe://td/a b",
                SourceError::Path("spiffe://td/a b".into()),
            ),
        ];
        for (id, want) in cases {
            assert_eq!(Source::from_spiffe_id(id), Err(want), "{id}");
        }
    }

    #[test]
    fn anonymous_has_no_identity() {
        let s = Source::anonymous();
        assert_eq!(
            (s.spiffe_id(), s.namespace(), s.trust_domain()),
            (None, None, None)
        );
        assert_eq!(s.to_string(), "an anonymous caller");
    }

    #[test]
    fn builds_service_account_ids_like_upstream() {
        assert_eq!(
            service_account_spiffe_id("cluster.local", "ns1", "sa1"),
            "spiffe://cluster.local/ns/ns1/sa/sa1"
        );
        let s = Source::service_account("td", "n", "s").unwrap();
        assert_eq!(s.spiffe_id(), Some("spiffe://td/ns/n/sa/s"));
    }
}
