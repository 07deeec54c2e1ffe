//! Where connections arrive: the outbound listener (the agent's calls, captured or
//! proxied), the inbound mTLS listener (other agents' calls), and the admin listener
//! (probes, metrics, and the loopback-only diagnostics).

pub mod admin;
pub mod inbound;
pub mod outbound;
pub mod transparent;
