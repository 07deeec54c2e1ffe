//! Workload identities: a ServiceAccount, as the API server names it in a TokenReview
//! (`system:serviceaccount:<ns>:<sa>`) or a PodCertificateRequest, and its SPIFFE ID
//! `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`.

use std::fmt;

const USERNAME_PREFIX: &str = "system:serviceaccount:";

/// A ServiceAccount whose names are valid SPIFFE path segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccountRef {
    pub namespace: String,
    pub name: String,
}

// === impl ServiceAccountRef ===

impl ServiceAccountRef {
    /// The ServiceAccount a TokenReview's `status.user.username` names, if it names one.
    pub fn from_username(username: &str) -> Option<Self> {
        let rest = username.strip_prefix(USERNAME_PREFIX)?;
        let (namespace, name) = rest.split_once(':')?;
        Self::new(namespace, name)
    }

    /// `None` unless both names are non-empty SPIFFE path segments (Kubernetes names
    /// always are: lowercase letters, digits, `-` and `.`).
    pub fn new(namespace: &str, name: &str) -> Option<Self> {
        (is_segment(namespace) && is_segment(name)).then(|| Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn spiffe_id(&self, trust_domain: &str) -> String {
        format!(
            "spiffe://{trust_domain}/ns/{}/sa/{}",
            self.namespace, self.name
        )
    }
}

impl fmt::Display for ServiceAccountRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A SPIFFE trust domain: lowercase letters, digits, `.`, `-` and `_`, at most 255 bytes.
pub fn is_trust_domain(td: &str) -> bool {
    !td.is_empty()
        && td.len() <= 255
        && td
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_".contains(&b))
}

fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_usernames_map_to_spiffe_ids() {
        let sa = ServiceAccountRef::from_username("system:serviceaccount:team-a:agent").unwrap();
        assert_eq!(
            sa.spiffe_id("cluster.local"),
            "spiffe://cluster.local/ns/team-a/sa/agent"
        );
    }

    #[test]
    fn other_usernames_name_no_service_account() {
        for username in [
            "system:admin",
            "alice",
            "system:serviceaccount:ns",
            "system:serviceaccount::sa",
            "system:serviceaccount:ns:",
            "system:serviceaccount:ns:a:b",
            "system:serviceaccount:ns:a/b",
            "system:serviceaccount:..:sa",
        ] {
            assert_eq!(
                ServiceAccountRef::from_username(username),
                None,
                "{username}"
            );
        }
    }

    #[test]
    fn trust_domains_follow_the_spiffe_syntax() {
        assert!(is_trust_domain("cluster.local"));
        assert!(is_trust_domain("prod_1.example-corp.com"));
        for bad in ["", "Cluster.local", "a/b", "a:1", &"a".repeat(256)] {
            assert!(!is_trust_domain(bad), "{bad}");
        }
    }
}
