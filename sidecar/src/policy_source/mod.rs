//! Where policy comes from (Kubernetes watches or a directory) and how it is
//! published to the data path.

pub mod dir;
pub mod kube;
pub mod manifest;
pub mod publish;

pub use publish::{PolicyState, Publisher};
