//! RateLimitPolicy: requests per period (token buckets) per caller, optionally per
//! MCP method or tool, or per A2A method or skill, on the targeted XBackends.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::gateway::{LocalPolicyTargetReference, PolicyAncestorStatus};
use crate::schema::{A2A_METHOD, DNS_SUBDOMAIN, require_ancestors};
use crate::v1alpha1::AccessRuleSource;

/// A Go-style duration of whole units: `1s`, `500ms`, `1m30s`, `1h`.
pub const PERIOD_PATTERN: &str = r"^([0-9]{1,6}(ms|s|m|h))+$";

/// How often callers may use the targeted XBackends.
#[allow(
    clippy::duplicated_attributes,
    reason = "each printcolumn(..) repeats `type_`; they are separate columns"
)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    doc = "RateLimitPolicy: how often callers may use the targeted XBackends.",
    group = "agentnet.dev",
    version = "v1alpha1",
    kind = "RateLimitPolicy",
    plural = "ratelimitpolicies",
    singular = "ratelimitpolicy",
    shortname = "rlp",
    category = "agentic",
    namespaced,
    status = "RateLimitPolicyStatus",
    printcolumn(
        name = "Target",
        type_ = "string",
        description = "The first target",
        json_path = ".spec.targetRefs[0].name"
    ),
    printcolumn(
        name = "Accepted",
        type_ = "string",
        json_path = r#".status.ancestors[0].conditions[?(@.type=="Accepted")].status"#
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitPolicySpec {
    /// The XBackends limited, in the policy's namespace; 1 to 10.
    #[schemars(length(min = 1, max = 10), extend("x-kubernetes-list-type" = "atomic"))]
    #[x_kube(validation = kube::core::Rule::new(
        "self.all(r, r.group == 'agentic.networking.x-k8s.io' && r.kind == 'XBackend')"
    ).message("a RateLimitPolicy targets XBackends (group agentic.networking.x-k8s.io, kind XBackend)"))]
    pub target_refs: Vec<LocalPolicyTargetReference>,
    /// 1 to 16 limits with unique names; a request counts against every limit it
    /// matches, and is refused when any of them is exhausted.
    #[schemars(length(min = 1, max = 16), extend("x-kubernetes-list-type" = "atomic"))]
    #[x_kube(validation = kube::core::Rule::new(
        "self.all(l, self.filter(x, x.name == l.name).size() == 1)"
    ).message("limit names must be unique within a RateLimitPolicy"))]
    pub limits: Vec<RateLimit>,
}

/// One token bucket per distinct key: `requests` tokens per `period`, holding at
/// most `burst` (default `requests`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("!(has(self.mcp) && has(self.a2a))")
        .message("mcp and a2a are mutually exclusive: a limit counts one protocol's requests"),
    validation = kube::core::Rule::new("!has(self.keyBy) || !self.keyBy.exists(k, k == 'Tool') || !has(self.a2a)")
        .message("keyBy Tool applies to MCP limits; use Skill for A2A"),
    validation = kube::core::Rule::new("!has(self.keyBy) || !self.keyBy.exists(k, k == 'Skill') || !has(self.mcp)")
        .message("keyBy Skill applies to A2A limits; use Tool for MCP"),
)]
pub struct RateLimit {
    /// Unique within the policy; named in denials, audit records and metrics.
    #[schemars(length(min = 1, max = 63), pattern(DNS_SUBDOMAIN))]
    pub name: String,
    /// Which callers the limit applies to (the XAccessPolicy rule shape); omitted:
    /// every caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<AccessRuleSource>,
    /// Only these MCP requests count; omitted (with `a2a`): every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpLimitMatch>,
    /// Only these A2A requests count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a2a: Option<A2aLimitMatch>,
    /// What makes two requests share a bucket; default `[Source]` (one bucket per
    /// caller). `Tool` and `Method` add the tool (or prompt, resource) and the method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4), extend("x-kubernetes-list-type" = "set"))]
    pub key_by: Option<Vec<LimitKey>>,
    /// Tokens added per period; 1 to 1000000.
    #[schemars(range(min = 1, max = 1_000_000))]
    pub requests: i32,
    /// The refill period, e.g. `1s`, `1m`, `1h` (at most 24h).
    #[schemars(length(min = 2, max = 32), pattern(PERIOD_PATTERN))]
    pub period: String,
    /// Bucket capacity, the most requests let through at once; default `requests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub burst: Option<i32>,
    /// `Local` (default): each sidecar keeps its own buckets. `Global`: one bucket per
    /// key shared by every sidecar, in the Redis named by `--rate-limit-redis-url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<LimitEnforcement>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum LimitEnforcement {
    #[default]
    Local,
    Global,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpLimitMatch {
    /// JSON-RPC methods, exactly (`tools/call`); omitted: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "set"))]
    pub methods: Option<Vec<LimitName>>,
    /// Tool (or prompt) names, `params.name`; omitted: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "set"))]
    pub tools: Option<Vec<LimitName>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct A2aLimitMatch {
    /// A2A methods in either generation (`SendMessage` ≡ `message/send`); omitted: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "set"))]
    pub methods: Option<Vec<A2aMethodName>>,
    /// Skills; omitted: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "set"))]
    pub skills: Option<Vec<LimitName>>,
}

/// A method, tool or skill name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct LimitName(#[schemars(length(min = 1, max = 256))] pub String);

/// An A2A method name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct A2aMethodName(#[schemars(length(min = 1, max = 128), pattern(A2A_METHOD))] pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum LimitKey {
    /// The caller's SPIFFE ID (or "anonymous").
    Source,
    /// The JSON-RPC method.
    Method,
    /// The MCP tool or prompt name, or the resource URI.
    Tool,
    /// The A2A skill.
    Skill,
}

/// Written by agentnet-webhook's status controller: one entry per target, as
/// XAccessPolicy's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = require_ancestors)]
pub struct RateLimitPolicyStatus {
    /// One entry per target, at most 16.
    #[serde(default)]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "atomic"))]
    pub ancestors: Vec<PolicyAncestorStatus>,
}
