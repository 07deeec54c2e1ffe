//! Transparent capture, the pod side: `agentnet-sidecar init` (the init container the
//! webhook injects ahead of the sidecar, with `NET_ADMIN`/`NET_RAW` only) installs the
//! rules of `rules` in the pod's network namespace, or fails so the pod never starts
//! uncaptured. The sidecar side (original destination, protocol detection) lives in
//! `listeners::transparent`.

pub mod init;
pub mod rules;

pub use init::{InitArgs, InitError, run};
pub use rules::{CaptureSpec, Family};
