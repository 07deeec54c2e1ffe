//! The agentnet API: upstream kube-agentic-networking's XBackend and XAccessPolicy
//! types (plus documented agentnet extensions), their CRD manifests, and conversion
//! between XAccessPolicy versions. The reference is docs/api.md.

pub mod agentnet_dev;
pub mod contract;
pub mod conversion;
pub mod crd;
pub mod gateway;
pub mod reference_grant;
mod rules;
mod schema;
pub mod v0alpha0;
pub mod v1alpha1;

pub use crd::crds;

/// The API group shared with upstream.
pub const GROUP: &str = "agentic.networking.x-k8s.io";
/// Gateway API group, accepted as a policy target kind for compatibility.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
