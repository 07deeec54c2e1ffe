//! v1alpha1 → v0alpha0: exact where v0alpha0 can say the same thing, otherwise a
//! view whose placeholder rules admit nothing.

use crate::v0alpha0 as v0;
use crate::v1alpha1 as v1;

use super::{ConversionError, PLACEHOLDER_PREFIX, TOOLS_CALL};

/// Name of the placeholder that stands for "no rules" (all traffic).
const ALL_TRAFFIC_RULE: &str = "all-traffic";
/// Source of a placeholder for a rule that admits any caller (v0alpha0 requires one).
const ANY_SOURCE_SPIFFE: &str = "spiffe://agentnet.invalid/any-source";

/// Converts a v1alpha1 spec to the v0alpha0 spec with the same meaning, the inverse
/// of `to_v1alpha1`; an error names the first thing v0alpha0 cannot express (an
/// omitted source, HTTP or A2A matchers, MCP methods other than `tools/call` with
/// tool names, `SKIP_BASE_PROTOCOL_METHODS` next to tools, an Allow policy without
/// rules, an ExternalAuth policy other than one rule with a source).
pub fn to_v0alpha0(spec: &v1::XAccessPolicySpec) -> Result<v0::XAccessPolicySpec, ConversionError> {
    let rules = match spec.action {
        v1::PolicyAction::Allow => allow_rules(spec)?,
        v1::PolicyAction::ExternalAuth => vec![external_rule(spec)?],
    };
    Ok(v0::XAccessPolicySpec {
        target_refs: spec.target_refs.clone(),
        rules,
    })
}

/// The v0alpha0 form of any v1alpha1 spec, for clients that read v0alpha0: exact when
/// `to_v0alpha0` succeeds; otherwise every rule (or, for a policy-level difference,
/// the whole policy) that v0alpha0 cannot express becomes a placeholder rule of type
/// CEL with the expression `false`, which admits nothing, and a message that starts
/// with `PLACEHOLDER_PREFIX` and says why. `to_v1alpha1` refuses placeholders, so an
/// edit made through this view can never store a changed meaning.
pub fn to_v0alpha0_view(spec: &v1::XAccessPolicySpec) -> v0::XAccessPolicySpec {
    let policy_error = match to_v0alpha0(spec) {
        Ok(exact) => return exact,
        Err(e) => e,
    };
    let per_rule = spec.action == v1::PolicyAction::Allow && spec.external_auth.is_none();
    let rules = match spec.rules.as_deref() {
        Some(rules) if per_rule && !rules.is_empty() => rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                allow_rule(i, r).unwrap_or_else(|e| placeholder(&r.name, r.source.as_ref(), &e))
            })
            .collect(),
        Some(rules) if !rules.is_empty() => rules
            .iter()
            .map(|r| placeholder(&r.name, r.source.as_ref(), &policy_error))
            .collect(),
        _ => vec![placeholder(ALL_TRAFFIC_RULE, None, &policy_error)],
    };
    v0::XAccessPolicySpec {
        target_refs: spec.target_refs.clone(),
        rules,
    }
}

fn allow_rules(spec: &v1::XAccessPolicySpec) -> Result<Vec<v0::AccessRule>, ConversionError> {
    if spec.external_auth.is_some() {
        return Err(ConversionError::unconvertible(
            "spec.externalAuth",
            "externalAuth must not be specified when action is set to 'Allow'",
        ));
    }
    match spec.rules.as_deref() {
        Some(rules) if !rules.is_empty() => rules
            .iter()
            .enumerate()
            .map(|(i, r)| allow_rule(i, r))
            .collect(),
        _ => Err(ConversionError::unconvertible(
            "spec.rules",
            "an Allow policy without rules applies to all traffic; v0alpha0 requires rules",
        )),
    }
}

fn external_rule(spec: &v1::XAccessPolicySpec) -> Result<v0::AccessRule, ConversionError> {
    let external_auth = spec.external_auth.clone().ok_or_else(|| {
        ConversionError::unconvertible(
            "spec.externalAuth",
            "externalAuth must be specified when action is set to 'ExternalAuth'",
        )
    })?;
    let [rule] = spec.rules.as_deref().unwrap_or_default() else {
        return Err(ConversionError::unconvertible(
            "spec.rules",
            "v0alpha0 expresses an ExternalAuth policy only as exactly one rule",
        ));
    };
    if rule.authorization.is_some() {
        return Err(ConversionError::unconvertible(
            "spec.rules[0].authorization",
            "a v0alpha0 ExternalAuth rule cannot also match requests",
        ));
    }
    Ok(v0::AccessRule {
        name: rule.name.clone(),
        source: source(0, rule.source.as_ref())?,
        authorization: Some(v0::AuthorizationRule {
            type_: v0::AuthorizationType::ExternalAuth,
            external_auth: Some(external_auth),
            ..v0::AuthorizationRule::default()
        }),
    })
}

fn allow_rule(index: usize, rule: &v1::AccessRule) -> Result<v0::AccessRule, ConversionError> {
    let authorization = match &rule.authorization {
        None => None,
        Some(authz) => Some(authorization(index, authz)?),
    };
    Ok(v0::AccessRule {
        name: rule.name.clone(),
        source: source(index, rule.source.as_ref())?,
        authorization,
    })
}

fn source(
    index: usize,
    source: Option<&v1::AccessRuleSource>,
) -> Result<v0::Source, ConversionError> {
    let path = format!("spec.rules[{index}].source");
    let source = source.ok_or_else(|| {
        ConversionError::unconvertible(
            &path,
            "a rule without source admits any caller; v0alpha0 requires a source",
        )
    })?;
    let type_ = source.type_.ok_or_else(|| {
        ConversionError::unconvertible(&path, "type must be specified when source is set")
    })?;
    Ok(v0::Source {
        type_,
        spiffe: source.spiffe.clone(),
        service_account: source.service_account.clone(),
    })
}

fn authorization(
    index: usize,
    authz: &v1::AuthorizationRule,
) -> Result<v0::AuthorizationRule, ConversionError> {
    let path = format!("spec.rules[{index}].authorization");
    if has_http_matchers(authz) {
        return Err(ConversionError::unconvertible(
            &path,
            "v0alpha0 has no HTTP matchers (methods, paths, headers, hosts, ports)",
        ));
    }
    if authz.a2a.is_some() {
        return Err(ConversionError::unconvertible(
            &path,
            "v0alpha0 has no A2A matchers",
        ));
    }
    match authz.type_ {
        v1::AuthorizationType::Inline if authz.cel.is_none() => inline(&path, &authz.mcp),
        v1::AuthorizationType::Inline => Err(ConversionError::unconvertible(
            &path,
            "cel must not be specified when type is set to 'Inline'",
        )),
        v1::AuthorizationType::Cel => cel(&path, authz),
    }
}

fn has_http_matchers(authz: &v1::AuthorizationRule) -> bool {
    authz.methods.is_some()
        || authz.paths.is_some()
        || authz.headers.is_some()
        || authz.hosts.is_some()
        || authz.ports.is_some()
}

fn inline(path: &str, mcp: &v1::McpAttributes) -> Result<v0::AuthorizationRule, ConversionError> {
    let tools = match mcp.methods.as_deref() {
        Some([method]) if method.name == TOOLS_CALL => {
            method.params.clone().filter(|p| !p.is_empty())
        }
        _ => None,
    };
    let Some(tools) = tools else {
        return Err(ConversionError::unconvertible(
            path,
            "v0alpha0 expresses only tools/call with tool names (InlineTools)",
        ));
    };
    if mcp.base_protocol_methods != v1::BaseProtocolMethodsOption::Match {
        return Err(ConversionError::unconvertible(
            path,
            "v0alpha0 InlineTools always admits the base protocol (MATCH_BASE_PROTOCOL_METHODS)",
        ));
    }
    Ok(v0::AuthorizationRule {
        type_: v0::AuthorizationType::InlineTools,
        tools: Some(tools),
        ..v0::AuthorizationRule::default()
    })
}

fn cel(
    path: &str,
    authz: &v1::AuthorizationRule,
) -> Result<v0::AuthorizationRule, ConversionError> {
    let cel = authz.cel.as_ref().ok_or_else(|| {
        ConversionError::unconvertible(path, "cel must be specified when type is set to 'CEL'")
    })?;
    if !authz.mcp.is_empty() {
        return Err(ConversionError::unconvertible(
            path,
            "v0alpha0 CEL rules have no mcp settings",
        ));
    }
    Ok(v0::AuthorizationRule {
        type_: v0::AuthorizationType::Cel,
        cel: Some(v0::CelRule {
            expression: cel.expression.clone(),
            message: None,
        }),
        ..v0::AuthorizationRule::default()
    })
}

fn placeholder(
    name: &str,
    source: Option<&v1::AccessRuleSource>,
    why: &ConversionError,
) -> v0::AccessRule {
    let source = self::source(0, source).unwrap_or_else(|_| v0::Source {
        type_: v1::SourceType::Spiffe,
        spiffe: Some(ANY_SOURCE_SPIFFE.to_owned()),
        service_account: None,
    });
    v0::AccessRule {
        name: name.to_owned(),
        source,
        authorization: Some(v0::AuthorizationRule {
            type_: v0::AuthorizationType::Cel,
            cel: Some(v0::CelRule {
                expression: "false".to_owned(),
                message: Some(format!("{PLACEHOLDER_PREFIX} {why}")),
            }),
            ..v0::AuthorizationRule::default()
        }),
    }
}
