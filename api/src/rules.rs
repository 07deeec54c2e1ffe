//! The CEL validation rules (`x-kubernetes-validations`) that more than one type
//! uses. Where upstream has the rule, the expression's meaning and the message are
//! upstream's, so users see the same errors; agentnet's own rules close upstream's
//! validation holes (see docs/api.md, "Differences from upstream").

use kube::core::{Message, Rule};

/// v0alpha0 upstream; v1alpha1 agentnet (upstream silently ignores other kinds).
pub(crate) fn target_kinds() -> Rule {
    Rule::new(
        "self.all(x, (x.group == 'agentic.networking.x-k8s.io' && x.kind == 'XBackend') \
         || (x.group == 'gateway.networking.k8s.io' && x.kind == 'Gateway'))",
    )
    .message(
        "TargetRef must have group agentic.networking.x-k8s.io and kind XBackend, \
         or group gateway.networking.k8s.io and kind Gateway",
    )
}

pub(crate) fn same_target_kind() -> Rule {
    Rule::new("self.all(ref, ref.kind == self[0].kind)")
        .message("All targetRefs must have the same Kind")
}

pub(crate) fn unique_rule_names() -> Rule {
    Rule::new("self.all(r, self.filter(x, x.name == r.name).size() == 1)")
        .message("AccessRule names must be unique")
}

/// agentnet: a source must say which member identifies the caller; an empty
/// `source: {}` or one with only a member used to match anyone upstream.
pub(crate) fn source_has_type() -> Rule {
    Rule::new("has(self.type)")
        .message("type must be specified when source is set; omit source to admit any caller")
}

/// agentnet: `type` without its member used to match anyone upstream.
pub(crate) fn source_member_required(ty: &str, member: &str) -> Rule {
    Rule::new(format!(
        "has(self.type) && self.type == '{ty}' ? has(self.{member}) : true"
    ))
    .message(Message::Message(format!(
        "{member} must be specified when type is set to '{ty}'"
    )))
}

/// agentnet: a member that disagrees with `type` is ignored upstream.
pub(crate) fn source_member_forbidden(ty: &str, member: &str) -> Rule {
    Rule::new(format!(
        "has(self.type) && self.type == '{ty}' ? !has(self.{member}) : true"
    ))
    .message(Message::Message(format!(
        "{member} must not be specified when type is set to '{ty}'"
    )))
}

/// `<field> must be specified when type is set to '<ty>'`, upstream's wording.
pub(crate) fn field_required_for_type(ty: &str, field: &str) -> Rule {
    Rule::new(format!("self.type == '{ty}' ? has(self.{field}) : true")).message(Message::Message(
        format!("{field} must be specified when type is set to '{ty}'"),
    ))
}

/// `<field> must not be specified when type is set to '<ty>'`.
pub(crate) fn field_forbidden_for_type(ty: &str, field: &str) -> Rule {
    Rule::new(format!("self.type == '{ty}' ? !has(self.{field}) : true")).message(Message::Message(
        format!("{field} must not be specified when type is set to '{ty}'"),
    ))
}
