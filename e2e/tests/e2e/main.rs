//! End-to-end tests against a real kube-apiserver and etcd. One module per capability;
//! they share the control plane that `agentnet_e2e::control_plane()` starts.

// Test code: a failed unwrap is a failed test, with the error in the panic message.
#![allow(clippy::unwrap_used)]

mod conformance;
mod control_plane;
mod crds;
mod identity;
mod mtls;
mod quickstart;
mod ratelimit;
mod sidecar;
mod status;
mod webhook;
