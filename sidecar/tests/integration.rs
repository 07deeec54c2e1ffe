//! Integration tests: the sidecar on 127.0.0.1:0 with its policy from YAML in a
//! temporary `--config-dir`, between real MCP and A2A peers.

// Test code: a failed unwrap is a failed test, with the error in the panic message.
#![allow(clippy::unwrap_used)]

mod common;

#[path = "integration/a2a.rs"]
mod a2a;
#[path = "integration/admin.rs"]
mod admin;
#[path = "integration/extauth.rs"]
mod extauth;
#[path = "integration/hostile.rs"]
mod hostile;
#[path = "integration/lifecycle.rs"]
mod lifecycle;
#[path = "integration/mcp_everything.rs"]
mod mcp_everything;
#[path = "integration/mcp_python.rs"]
mod mcp_python;
#[path = "integration/mcp_rmcp.rs"]
mod mcp_rmcp;
#[path = "integration/mtls.rs"]
mod mtls;
#[path = "integration/policy.rs"]
mod policy;
#[path = "integration/ratelimit.rs"]
mod ratelimit;
#[path = "integration/rejects.rs"]
mod rejects;
#[path = "integration/routing.rs"]
mod routing;
#[path = "integration/traces.rs"]
mod traces;
