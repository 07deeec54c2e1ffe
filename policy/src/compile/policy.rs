//! One XAccessPolicy into a compiled [`Policy`]: sources into SPIFFE IDs, matchers and
//! CEL compiled; anything we could not enforce as written is an error, never a wider rule.

use std::sync::Arc;

use agentnet_api::v1alpha1::{
    AccessRule, AccessRuleSource, AuthorizationRule, AuthorizationType, PolicyAction, SourceType,
    XAccessPolicy,
};

use crate::cel::CelCompiler;
use crate::matcher::{A2aMatch, HttpMatch, McpMatch};
use crate::rule::{Policy, PolicyRef, Rule, RuleKind, SourceMatch};
use crate::source::service_account_spiffe_id;

/// Why a policy is not accepted (besides the per-target limits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PolicyError {
    InvalidCel(String),
    Invalid(String),
}

pub(super) fn compile_policy(
    p: &XAccessPolicy,
    trust_domain: &str,
    cel: &mut CelCompiler,
) -> Result<Policy, PolicyError> {
    let namespace = p.metadata.namespace.as_deref().unwrap_or("default");
    let external_auth = match (p.spec.action, &p.spec.external_auth) {
        (PolicyAction::ExternalAuth, None) => {
            return Err(PolicyError::Invalid(
                "externalAuth must be specified when action is set to 'ExternalAuth'".into(),
            ));
        }
        (PolicyAction::ExternalAuth, Some(e)) => Some(Arc::new(e.clone())),
        (PolicyAction::Allow, _) => None,
    };
    let rules = p
        .spec
        .rules
        .iter()
        .flatten()
        .map(|r| compile_rule(r, namespace, trust_domain, cel));
    Ok(Policy {
        id: PolicyRef::new(namespace, p.metadata.name.as_deref().unwrap_or_default()),
        action: p.spec.action,
        external_auth,
        external_auth_service: None,
        rules: rules.collect::<Result<_, _>>()?,
        created: p.metadata.creation_timestamp.clone(),
    })
}

fn compile_rule(
    rule: &AccessRule,
    namespace: &str,
    trust_domain: &str,
    cel: &mut CelCompiler,
) -> Result<Rule, PolicyError> {
    let invalid = |why: String| PolicyError::Invalid(format!("rule {}: {why}", rule.name));
    let source = match &rule.source {
        None => SourceMatch::Any,
        Some(s) => compile_source(s, namespace, trust_domain).map_err(invalid)?,
    };
    let (http, kind) = match &rule.authorization {
        None => (HttpMatch::default(), RuleKind::Any),
        Some(authz) => {
            let kind = compile_kind(authz, cel).map_err(|e| match e {
                PolicyError::Invalid(why) => invalid(why),
                cel_error => cel_error,
            })?;
            (HttpMatch::compile(authz).map_err(invalid)?, kind)
        }
    };
    Ok(Rule {
        name: rule.name.clone(),
        source,
        http,
        kind,
    })
}

fn compile_kind(authz: &AuthorizationRule, cel: &mut CelCompiler) -> Result<RuleKind, PolicyError> {
    let invalid = |why: &str| Err(PolicyError::Invalid(why.to_owned()));
    match (authz.type_, &authz.cel) {
        (AuthorizationType::Inline, None) => Ok(RuleKind::Inline {
            mcp: McpMatch::compile(&authz.mcp),
            a2a: A2aMatch::compile(authz.a2a.as_ref()),
        }),
        (AuthorizationType::Inline, Some(_)) => {
            invalid("cel must not be specified when type is set to 'Inline'")
        }
        (AuthorizationType::Cel, None) => {
            invalid("cel must be specified when type is set to 'CEL'")
        }
        // Upstream would ignore them; the API server rejects them, and so do we.
        (AuthorizationType::Cel, _) if authz.mcp.methods.is_some() => {
            invalid("mcp.methods must not be specified when type is set to 'CEL'")
        }
        (AuthorizationType::Cel, _) if authz.a2a.is_some() => {
            invalid("a2a must not be specified when type is set to 'CEL'")
        }
        (AuthorizationType::Cel, Some(rule)) => {
            let compiled = cel
                .compile(&rule.expression)
                .map_err(PolicyError::InvalidCel)?;
            Ok(RuleKind::Cel(Box::new(compiled)))
        }
    }
}

/// Upstream turns a source whose `type` lacks its member into "any source"; we refuse
/// the policy instead (with the API server's messages), so a typo never admits everyone.
pub(crate) fn compile_source(
    s: &AccessRuleSource,
    namespace: &str,
    trust_domain: &str,
) -> Result<SourceMatch, String> {
    use SourceType::{ServiceAccount, Spiffe};
    match (s.type_, &s.spiffe, &s.service_account) {
        (None, ..) => {
            Err("type must be specified when source is set; omit source to admit any caller".into())
        }
        (Some(ServiceAccount), Some(_), _) => Err(forbidden("spiffe", "ServiceAccount")),
        (Some(ServiceAccount), None, None) => Err(required("serviceAccount", "ServiceAccount")),
        (Some(ServiceAccount), None, Some(sa)) => {
            let ns = sa.namespace.as_deref().unwrap_or(namespace);
            Ok(SourceMatch::Spiffe(service_account_spiffe_id(
                trust_domain,
                ns,
                &sa.name,
            )))
        }
        (Some(Spiffe), _, Some(_)) => Err(forbidden("serviceAccount", "SPIFFE")),
        (Some(Spiffe), None, None) => Err(required("spiffe", "SPIFFE")),
        (Some(Spiffe), Some(id), None) => Ok(SourceMatch::Spiffe(id.clone())),
    }
}

fn required(field: &str, type_: &str) -> String {
    format!("{field} must be specified when type is set to '{type_}'")
}

fn forbidden(field: &str, type_: &str) -> String {
    format!("{field} must not be specified when type is set to '{type_}'")
}

#[cfg(test)]
mod tests {
    use agentnet_api::v1alpha1::ServiceAccountSource;

    use super::*;

    fn source(
        type_: Option<SourceType>,
        spiffe: Option<&str>,
        sa: Option<(Option<&str>, &str)>,
    ) -> AccessRuleSource {
        AccessRuleSource {
            type_,
            spiffe: spiffe.map(str::to_owned),
            service_account: sa.map(|(ns, name)| ServiceAccountSource {
                namespace: ns.map(str::to_owned),
                name: name.into(),
            }),
        }
    }

    #[test]
    fn sources_become_spiffe_ids_or_errors() {
        use SourceType::{ServiceAccount as Sa, Spiffe};
        let id = |s: &str| Ok(SourceMatch::Spiffe(s.into()));
        let err = |s: &str| Err(s.to_owned());
        let cases = [
            (
                source(Some(Sa), None, Some((None, "agent"))),
                id("spiffe://td/ns/pol-ns/sa/agent"),
            ),
            (
                source(Some(Sa), None, Some((Some("other"), "agent"))),
                id("spiffe://td/ns/other/sa/agent"),
            ),
            (
                source(Some(Spiffe), Some("spiffe://x/y"), None),
                id("spiffe://x/y"),
            ),
            (
                source(Some(Sa), None, None),
                err("serviceAccount must be specified when type is set to 'ServiceAccount'"),
            ),
            (
                source(Some(Spiffe), None, None),
                err("spiffe must be specified when type is set to 'SPIFFE'"),
            ),
            (
                source(Some(Sa), Some("spiffe://x/y"), Some((None, "a"))),
                err("spiffe must not be specified when type is set to 'ServiceAccount'"),
            ),
            (
                source(Some(Spiffe), Some("spiffe://x/y"), Some((None, "a"))),
                err("serviceAccount must not be specified when type is set to 'SPIFFE'"),
            ),
            (
                source(None, Some("spiffe://x/y"), None),
                err("type must be specified when source is set; omit source to admit any caller"),
            ),
            (
                source(None, None, None),
                err("type must be specified when source is set; omit source to admit any caller"),
            ),
        ];
        for (s, want) in cases {
            assert_eq!(compile_source(&s, "pol-ns", "td"), want, "{s:?}");
        }
    }
}
