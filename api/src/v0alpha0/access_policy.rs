//! XAccessPolicy v0alpha0: upstream's legacy shape, still served. Each rule has a
//! required source and an authorization of type InlineTools, ExternalAuth or CEL.
//! Objects are stored as v1alpha1; see `crate::conversion`.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::gateway::{HttpExternalAuthFilter, LocalPolicyTargetReference};
use crate::rules;
use crate::schema::{DNS_SUBDOMAIN, SPIFFE_ID};
use crate::v1alpha1::{ServiceAccountSource, SourceType, XAccessPolicyStatus};

#[allow(
    clippy::duplicated_attributes,
    reason = "each printcolumn(..) repeats `type_`; they are separate columns"
)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    doc = "XAccessPolicy (legacy v0alpha0 shape): who may call the targeted XBackends (or Gateways).",
    group = "agentic.networking.x-k8s.io",
    version = "v0alpha0",
    kind = "XAccessPolicy",
    plural = "xaccesspolicies",
    singular = "xaccesspolicy",
    shortname = "xap",
    category = "agentic",
    namespaced,
    status = "XAccessPolicyStatus",
    printcolumn(
        name = "Kind",
        type_ = "string",
        description = "Kind of the targets (all targetRefs are of one kind)",
        json_path = ".spec.targetRefs[0].kind",
        priority = 1
    ),
    printcolumn(
        name = "Target",
        type_ = "string",
        description = "The first target; the API server prints one value per column",
        json_path = ".spec.targetRefs[0].name"
    ),
    printcolumn(
        name = "Accepted",
        type_ = "string",
        description = "Accepted condition; a policy is accepted or rejected for all its targets alike",
        json_path = r#".status.ancestors[0].conditions[?(@.type=="Accepted")].status"#
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct XAccessPolicySpec {
    /// 1 to 10 XBackends or Gateways, all of one kind.
    #[schemars(length(min = 1, max = 10), extend("x-kubernetes-list-type" = "atomic"))]
    #[x_kube(validation = rules::target_kinds(), validation = rules::same_target_kind())]
    pub target_refs: Vec<LocalPolicyTargetReference>,
    /// 1 to 10 rules with unique names; at most one ExternalAuth rule, alone.
    #[schemars(length(min = 1, max = 10), extend("x-kubernetes-list-type" = "atomic"))]
    #[x_kube(
        validation = rules::unique_rule_names(),
        validation = kube::core::Rule::new(
            "self.filter(r, has(r.authorization) && r.authorization.type == 'ExternalAuth').size() <= 1"
        ).message("a maximum of one rule per policy can specify 'ExternalAuth' authorization type"),
        validation = kube::core::Rule::new(
            "self.exists(r, has(r.authorization) && r.authorization.type == 'ExternalAuth') ? self.size() == 1 : true"
        ).message("an 'ExternalAuth' rule cannot be combined with other rules; v1alpha1 has one action per policy"),
    )]
    pub rules: Vec<AccessRule>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessRule {
    #[schemars(length(min = 1, max = 63), pattern(DNS_SUBDOMAIN))]
    pub name: String,
    pub source: Source,
    /// Omitted: everything from the source is admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationRule>,
}

/// Who is calling; unlike v1alpha1, `type` is required.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = rules::source_member_required("ServiceAccount", "serviceAccount"),
    validation = rules::source_member_required("SPIFFE", "spiffe"),
    validation = rules::source_member_forbidden("ServiceAccount", "spiffe"),
    validation = rules::source_member_forbidden("SPIFFE", "serviceAccount"),
)]
pub struct Source {
    /// `ServiceAccount` or `SPIFFE`: which member identifies the caller.
    #[serde(rename = "type")]
    pub type_: SourceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(SPIFFE_ID))]
    pub spiffe: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountSource>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = rules::field_required_for_type("InlineTools", "tools"),
    validation = rules::field_required_for_type("ExternalAuth", "externalAuth"),
    validation = rules::field_required_for_type("CEL", "cel"),
    validation = kube::core::Rule::new("[has(self.tools), has(self.externalAuth), has(self.cel)].filter(x, x).size() <= 1")
        .message("only one of tools, externalAuth or cel can be specified"),
)]
pub struct AuthorizationRule {
    /// `InlineTools` (`tools`), `ExternalAuth` (`externalAuth`) or `CEL` (`cel`).
    #[serde(rename = "type")]
    pub type_: AuthorizationType,
    /// Tool names a caller may invoke with tools/call; at least one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1), extend("x-kubernetes-list-type" = "set"))]
    pub tools: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_auth: Option<HttpExternalAuthFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cel: Option<CelRule>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AuthorizationType {
    #[default]
    InlineTools,
    ExternalAuth,
    #[serde(rename = "CEL")]
    Cel,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CelRule {
    #[schemars(length(min = 1))]
    pub expression: String,
    /// Dropped by conversion to v1alpha1, as upstream does (agentnet keeps it in an
    /// annotation so that reading the policy back as v0alpha0 restores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
