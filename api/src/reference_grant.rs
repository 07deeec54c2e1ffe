//! Gateway API `ReferenceGrant` (gateway.networking.k8s.io/v1beta1), read only: the
//! owner of a namespace allows objects of another namespace to refer to its objects.
//! agentnet honours it for an ExternalAuth `backendRef` to another namespace (upstream
//! does not check). The CRD is Gateway API's; agentnet does not install it.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Who (`from`) may refer to what (`to`) in the grant's namespace.
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "gateway.networking.k8s.io",
    version = "v1beta1",
    kind = "ReferenceGrant",
    plural = "referencegrants",
    namespaced
)]
pub struct ReferenceGrantSpec {
    pub from: Vec<ReferenceGrantFrom>,
    pub to: Vec<ReferenceGrantTo>,
}

/// Objects, by group, kind and namespace, that may refer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReferenceGrantFrom {
    pub group: String,
    pub kind: String,
    pub namespace: String,
}

/// Objects, by group, kind and optionally name, that may be referred to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReferenceGrantTo {
    pub group: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

// === impl ReferenceGrant ===

impl ReferenceGrant {
    /// Whether this grant lets a `from_kind.from_group` in `from_namespace` refer to
    /// the `to_kind.to_group` named `to_name` in the grant's namespace.
    pub fn permits(
        &self,
        (from_group, from_kind, from_namespace): (&str, &str, &str),
        (to_group, to_kind, to_name): (&str, &str, &str),
    ) -> bool {
        let from = self.spec.from.iter().any(|f| {
            (f.group.as_str(), f.kind.as_str(), f.namespace.as_str())
                == (from_group, from_kind, from_namespace)
        });
        let to = self.spec.to.iter().any(|t| {
            (t.group.as_str(), t.kind.as_str()) == (to_group, to_kind)
                && t.name.as_deref().is_none_or(|n| n == to_name)
        });
        from && to
    }
}
