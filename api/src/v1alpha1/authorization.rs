//! What a v1alpha1 rule admits from its source: Inline matchers (HTTP, MCP and the
//! agentnet A2A extension) or a CEL expression.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rules::{field_forbidden_for_type, field_required_for_type};
use crate::schema::{A2A_METHOD, HEADER_NAME, HOSTNAME, MCP_METHOD_NAMES, no_default};

/// `Inline`: the request must match every matcher that is set (each list is an OR,
/// except `headers`, which must all match). `CEL`: the expression must be true.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = field_required_for_type("CEL", "cel"),
    validation = field_forbidden_for_type("Inline", "cel"),
    validation = kube::core::Rule::new("self.type == 'CEL' ? !has(self.mcp) || !has(self.mcp.methods) : true")
        .message("mcp.methods must not be specified when type is set to 'CEL'"),
    validation = field_forbidden_for_type("CEL", "a2a"),
)]
pub struct AuthorizationRule {
    /// `Inline` (the matchers below) or `CEL` (`cel`).
    #[serde(rename = "type")]
    pub type_: AuthorizationType,
    /// HTTP methods, any of which matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 9), extend("x-kubernetes-list-type" = "set"))]
    pub methods: Option<Vec<HttpMethod>>,
    /// Request paths, any of which matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10), extend("x-kubernetes-list-type" = "atomic"))]
    pub paths: Option<Vec<HttpPathMatch>>,
    /// Request headers, all of which must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10), extend("x-kubernetes-list-type" = "atomic"))]
    pub headers: Option<Vec<HttpHeaderMatch>>,
    /// Destination hosts (`*.` wildcards allowed), any of which matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 10),
        inner(length(min = 1, max = 253), pattern(HOSTNAME)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub hosts: Option<Vec<String>>,
    /// Destination ports, any of which matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 10),
        inner(range(min = 1, max = 65535)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub ports: Option<Vec<i32>>,
    /// MCP methods and base-protocol handling.
    #[serde(default, skip_serializing_if = "McpAttributes::is_empty")]
    #[schemars(transform = no_default)]
    pub mcp: McpAttributes,
    /// Required when `type` is `CEL`, forbidden otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cel: Option<AccessPolicyCelRule>,
    /// agentnet extension: A2A methods and skills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a2a: Option<A2aAttributes>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AuthorizationType {
    #[default]
    Inline,
    #[serde(rename = "CEL")]
    Cel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpPathMatch {
    /// `Exact`, `PathPrefix` (default) or `RegularExpression`.
    #[serde(default, rename = "type")]
    pub type_: PathMatchType,
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub value: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PathMatchType {
    Exact,
    #[default]
    PathPrefix,
    RegularExpression,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeaderMatch {
    /// `Exact` (default) or `RegularExpression`.
    #[serde(default, rename = "type")]
    pub type_: HeaderMatchType,
    #[schemars(length(min = 1, max = 256), pattern(HEADER_NAME))]
    pub name: String,
    #[schemars(length(min = 1, max = 4096))]
    pub value: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum HeaderMatchType {
    #[default]
    Exact,
    RegularExpression,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpAttributes {
    /// At most 10, one entry per name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 10),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub methods: Option<Vec<McpMethod>>,
    /// Whether the rule also admits the MCP base protocol (initialize, ping, list
    /// methods, notifications, GET streams, session DELETE); SKIP by default.
    #[serde(default, rename = "mcpBaseProtocolMethodsOption")]
    pub base_protocol_methods: BaseProtocolMethodsOption,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BaseProtocolMethodsOption {
    /// Base methods are neither matched nor admitted by this rule's method list.
    #[default]
    #[serde(rename = "SKIP_BASE_PROTOCOL_METHODS")]
    Skip,
    /// The rule also admits initialize, tools/list, ping, completion/*, logging/*,
    /// notifications/*, GET streams and session DELETE.
    #[serde(rename = "MATCH_BASE_PROTOCOL_METHODS")]
    Match,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "has(self.params) && self.params.size() > 0 ? self.name in ['prompts/get', 'tools/call', \
     'resources/subscribe', 'resources/unsubscribe', 'resources/read'] : true"
).message("Params can only be specified for get, call, subscribe, unsubscribe, or read methods"))]
pub struct McpMethod {
    /// A method (`tools/call`) or a category (`tools`, `prompts`, `resources`).
    #[schemars(extend("enum" = MCP_METHOD_NAMES))]
    pub name: String,
    /// Tool, prompt or resource names (`params.name`; `params.uri` for resources);
    /// at most 10 of at most 20 characters (upstream's limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 10),
        inner(length(max = 20)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub params: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicyCelRule {
    /// A CEL expression over the request; see docs/api.md for the variables.
    #[schemars(length(min = 1))]
    pub expression: String,
}

/// agentnet extension: which A2A methods and skills a rule admits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct A2aAttributes {
    /// Methods in either generation (`SendMessage` or `message/send`); omitted: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 16),
        inner(length(min = 1, max = 64), pattern(A2A_METHOD)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub methods: Option<Vec<String>>,
    /// Skill ids (from the agent card) a message may target; omitted: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 256)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub skills: Option<Vec<String>>,
}

// === impl McpAttributes ===

impl McpAttributes {
    /// True when nothing differs from an absent `mcp` (no methods, base methods
    /// skipped), so serialization can leave it out as upstream objects do.
    pub fn is_empty(&self) -> bool {
        self.methods.is_none() && self.base_protocol_methods == BaseProtocolMethodsOption::Skip
    }
}
