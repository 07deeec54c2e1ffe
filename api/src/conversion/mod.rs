//! Conversion between XAccessPolicy v0alpha0 and v1alpha1 (the storage version), pure
//! functions that agentnet-webhook serves at `/convert`.
//!
//! Spec level: `to_v1alpha1` and `to_v0alpha0` convert exactly or fail;
//! `to_v0alpha0_view` always succeeds, with placeholder rules that admit nothing
//! where v0alpha0 cannot express a v1alpha1 policy.
//!
//! Object level: `convert_object` keeps what a conversion cannot carry in an
//! annotation on the converted object, the common Kubernetes pattern, so a round
//! trip through the other version is lossless: `agentnet.dev/v1alpha1-spec` on a
//! v0alpha0 object holds the v1alpha1 spec it stands for; `agentnet.dev/v0alpha0-spec`
//! on a v1alpha1 object holds the v0alpha0 spec it came from (CEL messages). An
//! annotation is used only while it still matches the object's spec; an edit through
//! the other version makes it stale, and it is dropped.

mod down;
mod object;
mod up;

pub use down::{to_v0alpha0, to_v0alpha0_view};
pub use object::convert_object;
pub use up::to_v1alpha1;

/// On a v0alpha0 object: the JSON of the v1alpha1 spec its placeholders stand for.
pub const V1ALPHA1_SPEC_ANNOTATION: &str = "agentnet.dev/v1alpha1-spec";
/// On a v1alpha1 object: the JSON of the v0alpha0 spec it was written as, when that
/// said more than v1alpha1 keeps (a CEL rule's `message`).
pub const V0ALPHA0_SPEC_ANNOTATION: &str = "agentnet.dev/v0alpha0-spec";
/// Start of the CEL `message` of a placeholder rule in a v0alpha0 view.
pub const PLACEHOLDER_PREFIX: &str = "agentnet: v1alpha1 only:";

const TOOLS_CALL: &str = "tools/call";

/// Why a conversion failed. The messages are written for the user who sees them in
/// the API server's reply.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    /// The spec has no form in the other version (or breaks its own version's rules).
    #[error("{path}: {reason}")]
    Unconvertible { path: String, reason: String },
    /// A v0alpha0 write still carries a placeholder, but the v1alpha1 spec it stood
    /// for no longer applies (the policy was edited through v0alpha0).
    #[error(
        "{path} stands for v1alpha1 content that v0alpha0 cannot express ({reason}); \
         edit this XAccessPolicy as agentic.networking.x-k8s.io/v1alpha1"
    )]
    Placeholder { path: String, reason: String },
    #[error("apiVersion {0:?} is not agentic.networking.x-k8s.io/v0alpha0 or v1alpha1")]
    UnsupportedVersion(String),
    #[error("kind {0:?} has one version; only XAccessPolicy is converted")]
    UnsupportedKind(String),
    #[error("the object has no {0}")]
    Missing(&'static str),
    #[error("the {version} spec is malformed: {source}")]
    Malformed {
        version: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

// === impl ConversionError ===

impl ConversionError {
    fn unconvertible(path: &str, reason: &str) -> Self {
        Self::Unconvertible {
            path: path.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
