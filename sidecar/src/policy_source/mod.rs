//! Where policy comes from (the control plane's policy service, a directory, or, as an
//! opt-in, the sidecar's own Kubernetes watches) and how it is published to the data
//! path.

mod connection;
pub mod control_plane;
pub mod dir;
pub mod kube;
pub mod manifest;
pub mod publish;

pub use publish::{PolicyState, Publisher};
