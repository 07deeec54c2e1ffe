//! `agentic.networking.x-k8s.io/v1alpha1`: XAccessPolicy, the storage version.

mod access_policy;
mod authorization;

pub use access_policy::*;
pub use authorization::*;

#[cfg(test)]
mod tests;
