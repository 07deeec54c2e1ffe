//! The outbound listener (127.0.0.1:15001): the agent's forward proxy.

pub mod connect;
pub mod destination;
pub mod listener;
