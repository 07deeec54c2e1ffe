//! XAccessPolicy v1alpha1 (the storage version): who may call which backend, and how.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::gateway::{HttpExternalAuthFilter, LocalPolicyTargetReference, PolicyAncestorStatus};
use crate::rules;
use crate::schema::{DNS_LABEL, DNS_SUBDOMAIN, SPIFFE_ID, require_ancestors};

use super::AuthorizationRule;

/// Who may call which XBackends (or Gateways), and how; the storage version.
#[allow(
    clippy::duplicated_attributes,
    reason = "each printcolumn(..) repeats `type_`; they are separate columns"
)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    doc = "XAccessPolicy: who may call the targeted XBackends (or Gateways), and how.",
    group = "agentic.networking.x-k8s.io",
    version = "v1alpha1",
    kind = "XAccessPolicy",
    plural = "xaccesspolicies",
    singular = "xaccesspolicy",
    shortname = "xap",
    category = "agentic",
    namespaced,
    status = "XAccessPolicyStatus",
    printcolumn(name = "Action", type_ = "string", json_path = ".spec.action"),
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
#[x_kube(
    validation = kube::core::Rule::new("self.action == 'ExternalAuth' ? has(self.externalAuth) : true")
        .message("externalAuth must be specified when action is set to 'ExternalAuth'"),
    validation = kube::core::Rule::new("self.action == 'Allow' ? !has(self.externalAuth) : true")
        .message("externalAuth must not be specified when action is set to 'Allow'"),
)]
pub struct XAccessPolicySpec {
    /// The XBackends (or Gateways) this policy applies to, in its namespace; 1 to 10,
    /// all of one kind.
    #[schemars(length(min = 1, max = 10), extend("x-kubernetes-list-type" = "atomic"))]
    #[x_kube(validation = rules::target_kinds(), validation = rules::same_target_kind())]
    pub target_refs: Vec<LocalPolicyTargetReference>,
    /// `Allow`: the rules admit requests. `ExternalAuth`: requests matching the rules
    /// must also be allowed by the external authorizer.
    pub action: PolicyAction,
    /// The authorizer; required when `action` is `ExternalAuth`, forbidden otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_auth: Option<HttpExternalAuthFilter>,
    /// At most 10, with unique names. Omitted: the policy applies to all traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10), extend("x-kubernetes-list-type" = "atomic"))]
    #[x_kube(validation = rules::unique_rule_names())]
    pub rules: Option<Vec<AccessRule>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PolicyAction {
    #[default]
    Allow,
    ExternalAuth,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessRule {
    /// Unique within the policy; named in denials and audit records.
    #[schemars(length(min = 1, max = 63), pattern(DNS_SUBDOMAIN))]
    pub name: String,
    /// Omitted: any source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<AccessRuleSource>,
    /// Omitted: everything from the source is admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationRule>,
}

/// Who is calling. `type` names the member that identifies the caller; agentnet
/// rejects a source whose member is missing or disagrees with `type` (upstream
/// matches anyone there).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = rules::source_has_type(),
    validation = rules::source_member_required("ServiceAccount", "serviceAccount"),
    validation = rules::source_member_required("SPIFFE", "spiffe"),
    validation = rules::source_member_forbidden("ServiceAccount", "spiffe"),
    validation = rules::source_member_forbidden("SPIFFE", "serviceAccount"),
)]
pub struct AccessRuleSource {
    /// `ServiceAccount` or `SPIFFE`: which member identifies the caller.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<SourceType>,
    /// An exact SPIFFE ID, when `type` is `SPIFFE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(SPIFFE_ID))]
    pub spiffe: Option<String>,
    /// A ServiceAccount, when `type` is `ServiceAccount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountSource>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SourceType {
    #[default]
    ServiceAccount,
    #[serde(rename = "SPIFFE")]
    Spiffe,
}

/// A ServiceAccount; it matches the SPIFFE ID
/// `spiffe://<trust-domain>/ns/<namespace>/sa/<name>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountSource {
    /// Defaults to the policy's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(DNS_LABEL))]
    pub namespace: Option<String>,
    /// The ServiceAccount's name.
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN))]
    pub name: String,
}

/// Written by agentnet-webhook's status controller: one entry per target.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = require_ancestors)]
pub struct XAccessPolicyStatus {
    /// One entry per target, at most 16.
    #[serde(default)]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "atomic"))]
    pub ancestors: Vec<PolicyAncestorStatus>,
}
