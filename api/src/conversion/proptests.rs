//! Round trips over generated policies: whatever a client writes in one version reads
//! back unchanged from that version, after a trip through the other.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::gateway::LocalPolicyTargetReference;
use crate::gateway::{
    BackendObjectReference, ExternalAuthProtocol, HttpAuthConfig, HttpExternalAuthFilter,
};
use crate::v0alpha0 as v0;
use crate::v1alpha1 as v1;

const V0: &str = "agentic.networking.x-k8s.io/v0alpha0";
const V1: &str = "agentic.networking.x-k8s.io/v1alpha1";

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}"
}

fn targets() -> impl Strategy<Value = Vec<LocalPolicyTargetReference>> {
    vec(name(), 1..3).prop_map(|names| {
        names
            .into_iter()
            .map(|name| LocalPolicyTargetReference {
                group: crate::GROUP.to_owned(),
                kind: "XBackend".to_owned(),
                name,
                section_name: None,
            })
            .collect()
    })
}

fn service_account() -> impl Strategy<Value = v1::ServiceAccountSource> {
    (option::of(name()), name())
        .prop_map(|(namespace, name)| v1::ServiceAccountSource { namespace, name })
}

fn v0_source() -> impl Strategy<Value = v0::Source> {
    prop_oneof![
        service_account().prop_map(|sa| v0::Source {
            type_: v1::SourceType::ServiceAccount,
            spiffe: None,
            service_account: Some(sa),
        }),
        name().prop_map(|n| v0::Source {
            type_: v1::SourceType::Spiffe,
            spiffe: Some(format!("spiffe://example.org/{n}")),
            service_account: None,
        }),
    ]
}

fn external_auth() -> impl Strategy<Value = HttpExternalAuthFilter> {
    (name(), 1..65535i32).prop_map(|(name, port)| HttpExternalAuthFilter {
        protocol: ExternalAuthProtocol::Http,
        backend_ref: BackendObjectReference {
            name,
            port: Some(port),
            ..Default::default()
        },
        http: Some(HttpAuthConfig::default()),
        ..Default::default()
    })
}

fn v0_authorization() -> impl Strategy<Value = Option<v0::AuthorizationRule>> {
    option::of(prop_oneof![
        vec(name(), 1..4).prop_map(|tools| v0::AuthorizationRule {
            type_: v0::AuthorizationType::InlineTools,
            tools: Some(tools),
            ..Default::default()
        }),
        (name(), option::of(name())).prop_map(|(e, message)| v0::AuthorizationRule {
            type_: v0::AuthorizationType::Cel,
            cel: Some(v0::CelRule {
                expression: format!("request.mcp.tool_name == '{e}'"),
                message
            }),
            ..Default::default()
        }),
    ])
}

/// Valid v0alpha0 specs: Allow-style rules, or one ExternalAuth rule alone.
fn v0_spec() -> impl Strategy<Value = v0::XAccessPolicySpec> {
    let allow = vec((v0_source(), v0_authorization()), 1..5).prop_map(|rules| {
        rules
            .into_iter()
            .enumerate()
            .map(|(i, (source, authorization))| v0::AccessRule {
                name: format!("rule-{i}"),
                source,
                authorization,
            })
            .collect()
    });
    let external = (v0_source(), external_auth()).prop_map(|(source, ext)| {
        vec![v0::AccessRule {
            name: "ext".to_owned(),
            source,
            authorization: Some(v0::AuthorizationRule {
                type_: v0::AuthorizationType::ExternalAuth,
                external_auth: Some(ext),
                ..Default::default()
            }),
        }]
    });
    (targets(), prop_oneof![allow, external])
        .prop_map(|(target_refs, rules)| v0::XAccessPolicySpec { target_refs, rules })
}

fn mcp() -> impl Strategy<Value = v1::McpAttributes> {
    let method = (
        prop::sample::select(vec!["tools", "tools/call", "prompts/get", "resources/read"]),
        option::of(vec(name(), 0..3)),
    )
        .prop_map(|(name, params)| v1::McpMethod {
            name: name.to_owned(),
            params,
        });
    (option::of(vec(method, 0..3)), any::<bool>()).prop_map(|(methods, matched)| {
        v1::McpAttributes {
            methods,
            base_protocol_methods: if matched {
                v1::BaseProtocolMethodsOption::Match
            } else {
                v1::BaseProtocolMethodsOption::Skip
            },
        }
    })
}

fn v1_authorization() -> impl Strategy<Value = Option<v1::AuthorizationRule>> {
    let inline = (
        mcp(),
        option::of(vec(1..65535i32, 1..3)),
        option::of(vec(name(), 1..2)),
    )
        .prop_map(|(mcp, ports, skills)| v1::AuthorizationRule {
            type_: v1::AuthorizationType::Inline,
            mcp,
            ports,
            a2a: skills.map(|skills| v1::A2aAttributes {
                methods: None,
                skills: Some(skills),
            }),
            ..Default::default()
        });
    let cel = name().prop_map(|e| v1::AuthorizationRule {
        type_: v1::AuthorizationType::Cel,
        cel: Some(v1::AccessPolicyCelRule {
            expression: format!("request.path == '/{e}'"),
        }),
        ..Default::default()
    });
    option::of(prop_oneof![inline, cel])
}

fn v1_source() -> impl Strategy<Value = Option<v1::AccessRuleSource>> {
    option::of(v0_source().prop_map(|s| up::source(&s)))
}

/// Any v1alpha1 spec the schema admits, most of which v0alpha0 cannot express.
fn v1_spec() -> impl Strategy<Value = v1::XAccessPolicySpec> {
    let rule = (v1_source(), v1_authorization());
    let rules = option::of(vec(rule, 0..4)).prop_map(|rules| {
        rules.map(|rules| {
            rules
                .into_iter()
                .enumerate()
                .map(|(i, (source, authorization))| v1::AccessRule {
                    name: format!("rule-{i}"),
                    source,
                    authorization,
                })
                .collect()
        })
    });
    (targets(), option::of(external_auth()), rules).prop_map(|(target_refs, ext, rules)| {
        v1::XAccessPolicySpec {
            target_refs,
            action: if ext.is_some() {
                v1::PolicyAction::ExternalAuth
            } else {
                v1::PolicyAction::Allow
            },
            external_auth: ext,
            rules,
        }
    })
}

fn object(api_version: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": api_version, "kind": "XAccessPolicy", "metadata": {"name": "p"}, "spec": spec})
}

fn without_cel_messages(mut spec: v0::XAccessPolicySpec) -> v0::XAccessPolicySpec {
    for rule in &mut spec.rules {
        if let Some(cel) = rule.authorization.as_mut().and_then(|a| a.cel.as_mut()) {
            cel.message = None;
        }
    }
    spec
}

proptest! {
    #[test]
    fn v0alpha0_specs_convert_up_and_back_keeping_their_meaning(spec in v0_spec()) {
        let up = to_v1alpha1(&spec).unwrap();
        prop_assert_eq!(to_v0alpha0(&up).unwrap(), without_cel_messages(spec));
    }

    #[test]
    fn exactly_convertible_v1alpha1_specs_convert_down_and_back(spec in v1_spec()) {
        if let Ok(down) = to_v0alpha0(&spec) {
            prop_assert_eq!(to_v1alpha1(&down).unwrap(), spec);
        }
    }

    #[test]
    fn the_view_of_a_spec_without_v0alpha0_form_is_refused_on_the_way_back(spec in v1_spec()) {
        let view = to_v0alpha0_view(&spec);
        prop_assert!(!view.rules.is_empty());
        if to_v0alpha0(&spec).is_err() {
            let refused = matches!(to_v1alpha1(&view), Err(ConversionError::Placeholder { .. }));
            prop_assert!(refused, "view {:?} was accepted back", view);
        }
    }

    #[test]
    fn v0alpha0_objects_read_back_unchanged_after_storage_as_v1alpha1(spec in v0_spec()) {
        let original = object(V0, serde_json::to_value(&spec).unwrap());
        let stored = convert_object(original.clone(), V1).unwrap();
        prop_assert_eq!(convert_object(stored, V0).unwrap(), original);
    }

    #[test]
    fn v1alpha1_objects_read_back_unchanged_after_a_v0alpha0_read(spec in v1_spec()) {
        let original = object(V1, serde_json::to_value(&spec).unwrap());
        let read = convert_object(original.clone(), V0).unwrap();
        prop_assert_eq!(convert_object(read, V1).unwrap(), original);
    }
}
