//! v0alpha0 → v1alpha1, following upstream's mapping (upstream-api.md §1.4).

use crate::gateway::HttpExternalAuthFilter;
use crate::v0alpha0 as v0;
use crate::v1alpha1 as v1;

use super::{ConversionError, PLACEHOLDER_PREFIX, TOOLS_CALL};

/// Converts a v0alpha0 spec to v1alpha1.
///
/// - `InlineTools` with `tools: [x]` becomes `Inline` with `tools/call` params `[x]`
///   and `MATCH_BASE_PROTOCOL_METHODS`: a v0alpha0 tool grant always let the caller
///   initialize a session and list tools (proposal 0008), and under v1alpha1's
///   default `SKIP` a session could not even start.
/// - The one `ExternalAuth` rule becomes `action: ExternalAuth` with its
///   `externalAuth`, keeping the rule (name and source) as the trigger.
/// - A `CEL` rule keeps its expression; its `message` has no v1alpha1 field and is
///   dropped (as upstream does; `convert_object` keeps it in an annotation).
///
/// Errors: an ExternalAuth rule next to other rules (v1alpha1 has one action per
/// policy), a rule that violates v0alpha0's own rules, or a placeholder rule that
/// stands for v1alpha1 content (see `to_v0alpha0_view`).
pub fn to_v1alpha1(spec: &v0::XAccessPolicySpec) -> Result<v1::XAccessPolicySpec, ConversionError> {
    let external: Vec<_> = spec
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| is_external(r))
        .collect();
    match external.as_slice() {
        [] => allow_policy(spec),
        [(i, rule)] if spec.rules.len() == 1 => external_policy(spec, *i, rule),
        [_] => Err(ConversionError::unconvertible(
            "spec.rules",
            "an ExternalAuth rule cannot be combined with other rules; v1alpha1 has one action per policy",
        )),
        _ => Err(ConversionError::unconvertible(
            "spec.rules",
            "a maximum of one rule per policy can specify 'ExternalAuth' authorization type",
        )),
    }
}

fn is_external(rule: &v0::AccessRule) -> bool {
    rule.authorization
        .as_ref()
        .is_some_and(|a| a.type_ == v0::AuthorizationType::ExternalAuth)
}

fn allow_policy(spec: &v0::XAccessPolicySpec) -> Result<v1::XAccessPolicySpec, ConversionError> {
    let rules = spec
        .rules
        .iter()
        .enumerate()
        .map(|(i, rule)| allow_rule(i, rule))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(v1::XAccessPolicySpec {
        target_refs: spec.target_refs.clone(),
        action: v1::PolicyAction::Allow,
        external_auth: None,
        rules: Some(rules),
    })
}

fn external_policy(
    spec: &v0::XAccessPolicySpec,
    index: usize,
    rule: &v0::AccessRule,
) -> Result<v1::XAccessPolicySpec, ConversionError> {
    Ok(v1::XAccessPolicySpec {
        target_refs: spec.target_refs.clone(),
        action: v1::PolicyAction::ExternalAuth,
        external_auth: Some(external_auth(index, rule)?),
        rules: Some(vec![v1::AccessRule {
            name: rule.name.clone(),
            source: Some(source(&rule.source)),
            authorization: None,
        }]),
    })
}

fn external_auth(
    index: usize,
    rule: &v0::AccessRule,
) -> Result<HttpExternalAuthFilter, ConversionError> {
    let path = format!("spec.rules[{index}].authorization");
    let authz = rule.authorization.as_ref().ok_or_else(|| {
        ConversionError::unconvertible(&path, "an ExternalAuth rule needs an authorization")
    })?;
    if authz.tools.is_some() || authz.cel.is_some() {
        return Err(ConversionError::unconvertible(
            &path,
            "only one of tools, externalAuth or cel can be specified",
        ));
    }
    authz.external_auth.clone().ok_or_else(|| {
        ConversionError::unconvertible(
            &path,
            "externalAuth must be specified when type is set to 'ExternalAuth'",
        )
    })
}

fn allow_rule(index: usize, rule: &v0::AccessRule) -> Result<v1::AccessRule, ConversionError> {
    let authorization = match &rule.authorization {
        None => None,
        Some(authz) => Some(authorization(index, authz)?),
    };
    Ok(v1::AccessRule {
        name: rule.name.clone(),
        source: Some(source(&rule.source)),
        authorization,
    })
}

pub(super) fn source(source: &v0::Source) -> v1::AccessRuleSource {
    v1::AccessRuleSource {
        type_: Some(source.type_),
        spiffe: source.spiffe.clone(),
        service_account: source.service_account.clone(),
    }
}

fn authorization(
    index: usize,
    authz: &v0::AuthorizationRule,
) -> Result<v1::AuthorizationRule, ConversionError> {
    let path = format!("spec.rules[{index}].authorization");
    let fields = [
        authz.tools.is_some(),
        authz.external_auth.is_some(),
        authz.cel.is_some(),
    ];
    if fields.iter().filter(|set| **set).count() > 1 {
        return Err(ConversionError::unconvertible(
            &path,
            "only one of tools, externalAuth or cel can be specified",
        ));
    }
    match authz.type_ {
        v0::AuthorizationType::InlineTools => inline_tools(&path, authz.tools.as_deref()),
        v0::AuthorizationType::Cel => cel(&path, authz.cel.as_ref()),
        v0::AuthorizationType::ExternalAuth => Err(ConversionError::unconvertible(
            &path,
            "an ExternalAuth rule cannot be combined with other rules; v1alpha1 has one action per policy",
        )),
    }
}

fn inline_tools(
    path: &str,
    tools: Option<&[String]>,
) -> Result<v1::AuthorizationRule, ConversionError> {
    // An empty list would become "tools/call with any name"; refuse to widen access.
    let tools = tools.filter(|t| !t.is_empty()).ok_or_else(|| {
        ConversionError::unconvertible(
            path,
            "tools must be specified when type is set to 'InlineTools'",
        )
    })?;
    Ok(v1::AuthorizationRule {
        type_: v1::AuthorizationType::Inline,
        mcp: v1::McpAttributes {
            methods: Some(vec![v1::McpMethod {
                name: TOOLS_CALL.to_owned(),
                params: Some(tools.to_vec()),
            }]),
            base_protocol_methods: v1::BaseProtocolMethodsOption::Match,
        },
        ..v1::AuthorizationRule::default()
    })
}

fn cel(path: &str, cel: Option<&v0::CelRule>) -> Result<v1::AuthorizationRule, ConversionError> {
    let cel = cel.ok_or_else(|| {
        ConversionError::unconvertible(path, "cel must be specified when type is set to 'CEL'")
    })?;
    if let Some(reason) = cel
        .message
        .as_deref()
        .and_then(|m| m.strip_prefix(PLACEHOLDER_PREFIX))
    {
        return Err(ConversionError::Placeholder {
            path: path.to_owned(),
            reason: reason.trim().to_owned(),
        });
    }
    Ok(v1::AuthorizationRule {
        type_: v1::AuthorizationType::Cel,
        cel: Some(v1::AccessPolicyCelRule {
            expression: cel.expression.clone(),
        }),
        ..v1::AuthorizationRule::default()
    })
}
