//! The policy engine through its public API: upstream's semantics, agentnet's
//! additions, status, list filtering and properties.

mod beyond;
mod fixtures;
mod props;
mod status;
mod upstream;
mod view;
