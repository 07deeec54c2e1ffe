//! ExternalAuth: a request matching an ExternalAuth policy's rules must also be
//! allowed by that policy's external authorizer. The call-out is not built yet, so
//! such requests are denied (fail closed, as upstream's ext_authz is); this is the
//! one place the client will go.

use agentnet_policy::{ExternalAuthRequirement, Request};

#[derive(Clone, Debug, Default)]
pub struct ExternalAuth;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExternalAuthError {
    #[error(
        "ExternalAuth not available: policy {policy} requires an external authorizer, which this sidecar cannot call yet; the request is denied"
    )]
    Unavailable { policy: String },
}

// === impl ExternalAuth ===

impl ExternalAuth {
    /// Whether the authorizer `requirement` names allows `request`.
    pub async fn check(
        &self,
        _request: &Request,
        requirement: &ExternalAuthRequirement,
    ) -> Result<(), ExternalAuthError> {
        Err(ExternalAuthError::Unavailable {
            policy: requirement.policy.to_string(),
        })
    }
}
