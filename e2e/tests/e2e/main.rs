//! End-to-end tests against a real kube-apiserver and etcd. One module per capability.
//! Two worlds, each started once per process on first use: the control plane alone
//! (`agentnet_e2e::control_plane()`: admission, CRDs, identity service and status, with
//! agentnet-webhook and sidecars as local processes), and a real node
//! (`agentnet_e2e::node::node()`: agentnet installed from its images by Helm, agent Pods
//! with their injected sidecars; `capture`, `kubelet`, `pod_identity`, `quickstart`).

// Test code: a failed unwrap is a failed test, with the error in the panic message.
#![allow(clippy::unwrap_used)]

mod capture;
mod conformance;
mod control_plane;
mod crds;
mod identity;
mod kubelet;
mod mtls;
mod pod_identity;
mod policy_service;
mod quickstart;
mod ratelimit;
mod sidecar;
mod status;
mod webhook;
