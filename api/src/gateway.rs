//! The Gateway API shapes that upstream's CRDs embed (policy target references,
//! HTTPExternalAuthFilter, PolicyAncestorStatus), written out so that `api` does not
//! depend on a Gateway API crate. Limits and rules are the Gateway API's.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::{
    AUTH_PATH, CONTROLLER_NAME, DNS_LABEL, DNS_SUBDOMAIN, GROUP, KIND, ancestor_conditions,
    require_conditions, uint16,
};

/// `LocalPolicyTargetReferenceWithSectionName`: a local object a policy attaches to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalPolicyTargetReference {
    /// API group of the target (`agentic.networking.x-k8s.io` for XBackend,
    /// `gateway.networking.k8s.io` for Gateway).
    #[schemars(length(max = 253), pattern(GROUP))]
    pub group: String,
    /// Kind of the target: `XBackend` or `Gateway`.
    #[schemars(length(min = 1, max = 63), pattern(KIND))]
    pub kind: String,
    /// Name of the target, in the policy's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Accepted for compatibility; agentnet, like upstream, ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN))]
    pub section_name: Option<String>,
}

/// `HTTPExternalAuthFilter`: where and how to ask an external authorizer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("self.protocol == 'GRPC' ? has(self.grpc) : true")
        .message("grpc must be specified when protocol is set to 'GRPC'"),
    validation = kube::core::Rule::new("has(self.grpc) ? self.protocol == 'GRPC' : true")
        .message("protocol must be 'GRPC' when grpc is set"),
    validation = kube::core::Rule::new("self.protocol == 'HTTP' ? has(self.http) : true")
        .message("http must be specified when protocol is set to 'HTTP'"),
    validation = kube::core::Rule::new("has(self.http) ? self.protocol == 'HTTP' : true")
        .message("protocol must be 'HTTP' when http is set"),
)]
pub struct HttpExternalAuthFilter {
    /// `HTTP` or `GRPC` (Envoy ext_authz v3).
    pub protocol: ExternalAuthProtocol,
    /// The authorizer's Service.
    pub backend_ref: BackendObjectReference,
    /// Required when `protocol` is `GRPC`, forbidden otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcAuthConfig>,
    /// Required when `protocol` is `HTTP`, forbidden otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpAuthConfig>,
    /// Whether to send the request body to the authorizer, and how much of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_body: Option<ForwardBodyConfig>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ExternalAuthProtocol {
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "GRPC")]
    Grpc,
}

/// `BackendObjectReference`: a Service (by default) and port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "(size(self.group) == 0 && self.kind == 'Service') ? has(self.port) : true"
).message("Must have port for Service reference"))]
pub struct BackendObjectReference {
    /// API group of the referent; empty (the default) for the core group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), pattern(GROUP), extend("default" = ""))]
    pub group: Option<String>,
    /// Kind of the referent; `Service` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(KIND), extend("default" = "Service"))]
    pub kind: Option<String>,
    /// Name of the referent.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Defaults to the policy's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(DNS_LABEL))]
    pub namespace: Option<String>,
    /// Required for a Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrpcAuthConfig {
    /// Request headers sent to the authorizer (all when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), extend("x-kubernetes-list-type" = "set"))]
    pub allowed_headers: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpAuthConfig {
    /// Path prefix for the authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024), pattern(AUTH_PATH))]
    pub path: Option<String>,
    /// Request headers sent to the authorizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), extend("x-kubernetes-list-type" = "set"))]
    pub allowed_headers: Option<Vec<String>>,
    /// Authorizer response headers copied onto the upstream request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), extend("x-kubernetes-list-type" = "set"))]
    pub allowed_response_headers: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForwardBodyConfig {
    /// Bytes of the request body sent to the authorizer (0: none), at most 65535.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "uint16")]
    pub max_size: Option<u16>,
}

/// `PolicyAncestorStatus`: the status of a policy with respect to one target.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = require_conditions)]
pub struct PolicyAncestorStatus {
    /// The target this entry is about.
    pub ancestor_ref: ParentReference,
    /// The controller that wrote this entry.
    #[schemars(length(min = 1, max = 253), pattern(CONTROLLER_NAME))]
    pub controller_name: String,
    /// `Accepted`, one entry per condition type.
    #[serde(default)]
    #[schemars(schema_with = "ancestor_conditions")]
    pub conditions: Vec<Condition>,
}

/// `ParentReference`: here always the policy's target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParentReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), pattern(GROUP), extend("default" = "gateway.networking.k8s.io"))]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(KIND), extend("default" = "Gateway"))]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(DNS_LABEL))]
    pub namespace: Option<String>,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN))]
    pub section_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
}
