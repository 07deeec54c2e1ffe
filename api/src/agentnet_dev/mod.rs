//! `agentnet.dev/v1alpha1`: agentnet's own API, beside upstream's. RateLimitPolicy
//! bounds how often callers may use an XBackend (docs/extensions.md).

mod rate_limit;

pub use rate_limit::*;

/// agentnet's own API group.
pub const GROUP: &str = "agentnet.dev";

#[cfg(test)]
mod tests;
