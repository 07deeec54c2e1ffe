//! `agentic.networking.x-k8s.io/v0alpha0`: XBackend (only version) and the legacy
//! XAccessPolicy shape.

mod access_policy;
mod backend;

pub use access_policy::*;
pub use backend::*;

#[cfg(test)]
mod tests;
