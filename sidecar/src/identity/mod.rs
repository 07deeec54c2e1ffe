//! The agent's own identity: the source of every request it makes. For now it comes
//! from configuration (`--spiffe-id`, or namespace and ServiceAccount); the workload
//! certificate (key and CSR, renewal, validate-then-publish) will replace it here
//! without changing the callers, which only ask for `source()`.

use std::sync::Arc;

use agentnet_policy::Source;

#[derive(Clone, Debug)]
pub struct LocalIdentity {
    source: Source,
    /// How audit records and logs name the source.
    label: Arc<str>,
    namespace: String,
}

// === impl LocalIdentity ===

impl LocalIdentity {
    /// `namespace` defaults to the SPIFFE ID's namespace, then `default`.
    pub fn new(source: Source, namespace: Option<String>) -> Self {
        let namespace = namespace
            .or_else(|| source.namespace().map(str::to_owned))
            .unwrap_or_else(|| "default".to_owned());
        LocalIdentity {
            label: source.to_string().into(),
            source,
            namespace,
        }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn label(&self) -> Arc<str> {
        self.label.clone()
    }

    /// The namespace short Service names resolve in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_comes_from_the_flag_then_the_spiffe_id() {
        let sa = Source::service_account("cluster.local", "agents", "a").unwrap();
        assert_eq!(LocalIdentity::new(sa.clone(), None).namespace(), "agents");
        assert_eq!(
            LocalIdentity::new(sa, Some("other".into())).namespace(),
            "other"
        );
        let anonymous = LocalIdentity::new(Source::anonymous(), None);
        assert_eq!(
            (anonymous.namespace(), &*anonymous.label()),
            ("default", "an anonymous caller")
        );
    }
}
