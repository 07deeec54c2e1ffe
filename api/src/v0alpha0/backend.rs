//! XBackend v0alpha0: a destination agents call, an MCP server (upstream) or, as an
//! agentnet extension, an A2A agent.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::{BACKEND_HOSTNAME, SERVICE_NAME, URL_PATH, conditions};

/// Exactly one protocol per backend: `mcp` (upstream) or `a2a` (agentnet extension).
#[allow(
    clippy::duplicated_attributes,
    reason = "each printcolumn(..) repeats `type_`; they are separate columns"
)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    doc = "XBackend: an MCP server or (agentnet extension) an A2A agent that agents call.",
    group = "agentic.networking.x-k8s.io",
    version = "v0alpha0",
    kind = "XBackend",
    plural = "xbackends",
    singular = "xbackend",
    shortname = "xbe",
    category = "agentic",
    namespaced,
    status = "XBackendStatus",
    printcolumn(name = "Service", type_ = "string", json_path = ".spec.*.serviceName"),
    printcolumn(name = "Hostname", type_ = "string", json_path = ".spec.*.hostname"),
    printcolumn(name = "Port", type_ = "integer", json_path = ".spec.*.port"),
    printcolumn(
        name = "MCP",
        type_ = "string",
        description = "Path of the MCP endpoint, for an MCP backend",
        json_path = ".spec.mcp.path"
    ),
    printcolumn(
        name = "A2A",
        type_ = "string",
        description = "Path of the A2A endpoint, for an A2A backend (agentnet extension)",
        json_path = ".spec.a2a.path"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("[has(self.mcp), has(self.a2a)].filter(x, x).size() == 1")
    .message("exactly one of the fields in [mcp a2a] must be set"))]
pub struct XBackendSpec {
    /// An MCP server reached over Streamable HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpBackend>,
    /// agentnet extension: an A2A agent reached over JSON-RPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a2a: Option<A2aBackend>,
}

/// Where an MCP server listens: a Service in the backend's namespace or an external
/// hostname (reached with TLS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "[has(self.serviceName),has(self.hostname)].filter(x,x==true).size() == 1"
).message("exactly one of the fields in [serviceName hostname] must be set"))]
pub struct McpBackend {
    /// A Service in the XBackend's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(SERVICE_NAME))]
    pub service_name: Option<String>,
    /// An external host (DNS name or IPv4 address, no scheme, port or path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(BACKEND_HOSTNAME))]
    pub hostname: Option<String>,
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// The MCP endpoint path.
    #[serde(default = "default_mcp_path")]
    #[schemars(length(min = 1, max = 1024), pattern(URL_PATH))]
    pub path: String,
}

/// Where an A2A agent listens (agentnet extension); same addressing as `mcp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "[has(self.serviceName),has(self.hostname)].filter(x,x==true).size() == 1"
).message("exactly one of the fields in [serviceName hostname] must be set"))]
pub struct A2aBackend {
    /// A Service in the XBackend's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(SERVICE_NAME))]
    pub service_name: Option<String>,
    /// An external host (DNS name or IPv4 address, no scheme, port or path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(BACKEND_HOSTNAME))]
    pub hostname: Option<String>,
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// The JSON-RPC endpoint path; the agent card is at `/.well-known/agent-card.json`.
    #[serde(default = "default_a2a_path")]
    #[schemars(length(min = 1, max = 1024), pattern(URL_PATH))]
    pub path: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct XBackendStatus {
    /// `Accepted` and `ResolvedRefs` (agentnet writes them; upstream never does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "conditions")]
    pub conditions: Option<Vec<Condition>>,
}

// === impl McpBackend ===

impl Default for McpBackend {
    /// The schema's defaults: `path: /mcp`, no address yet.
    fn default() -> Self {
        Self {
            service_name: None,
            hostname: None,
            port: 0,
            path: default_mcp_path(),
        }
    }
}

// === impl A2aBackend ===

impl Default for A2aBackend {
    /// The schema's defaults: `path: /`, no address yet.
    fn default() -> Self {
        Self {
            service_name: None,
            hostname: None,
            port: 0,
            path: default_a2a_path(),
        }
    }
}

fn default_mcp_path() -> String {
    "/mcp".to_owned()
}

fn default_a2a_path() -> String {
    "/".to_owned()
}
