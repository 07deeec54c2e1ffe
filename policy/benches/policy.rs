//! Policy evaluation and compilation at 10 and 1,000 policies over 100 backends.
//! Run: `cargo bench -p agentnet-policy`; the results table is in docs/policy.md.

use std::hint::black_box;

use agentnet_api::gateway::LocalPolicyTargetReference;
use agentnet_api::v0alpha0::{McpBackend, XBackend, XBackendSpec};
use agentnet_api::v1alpha1::{
    AccessPolicyCelRule, AccessRule, AccessRuleSource, AuthorizationRule, AuthorizationType,
    BaseProtocolMethodsOption, McpAttributes, McpMethod, PolicyAction, ServiceAccountSource,
    SourceType, XAccessPolicy, XAccessPolicySpec,
};
use agentnet_policy::{
    BackendRef, HttpRequest, Index, McpMessage, Message, Request, Settings, Snapshot, Source,
    compile, recompile,
};
use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::json;

const BACKENDS: usize = 100;
const RULES: usize = 3;
/// Callers: each rule admits one of them, so most rules fail on the source first.
const CALLERS: usize = 4;

#[derive(Clone, Copy)]
enum Kind {
    Inline,
    Cel,
}

fn backend(i: usize) -> XBackend {
    let mcp = McpBackend {
        service_name: Some(format!("svc-{i}")),
        hostname: None,
        port: 8080,
        path: "/mcp".into(),
    };
    let mut b = XBackend::new(
        &format!("b{i}"),
        XBackendSpec {
            mcp: Some(mcp),
            a2a: None,
        },
    );
    b.metadata.namespace = Some("tools".into());
    b
}

/// Rule `r` of policy `p` admits caller `(p + r) % CALLERS` to call tool `tool-<p>-<r>`.
fn rule(p: usize, r: usize, kind: Kind) -> AccessRule {
    let sa = ServiceAccountSource {
        namespace: Some("agents".into()),
        name: format!("agent-{}", (p + r) % CALLERS),
    };
    let source = AccessRuleSource {
        type_: Some(SourceType::ServiceAccount),
        spiffe: None,
        service_account: Some(sa),
    };
    AccessRule {
        name: format!("r{r}"),
        source: Some(source),
        authorization: Some(authorization(&format!("tool-{p}-{r}"), kind)),
    }
}

fn authorization(tool: &str, kind: Kind) -> AuthorizationRule {
    let expression =
        format!("request.mcp.tool_name == '{tool}' && request.headers['x-env'].startsWith('prod')");
    let methods = vec![McpMethod {
        name: "tools/call".into(),
        params: Some(vec![tool.into()]),
    }];
    match kind {
        Kind::Inline => AuthorizationRule {
            mcp: McpAttributes {
                methods: Some(methods),
                base_protocol_methods: BaseProtocolMethodsOption::Match,
            },
            ..AuthorizationRule::default()
        },
        Kind::Cel => AuthorizationRule {
            type_: AuthorizationType::Cel,
            cel: Some(AccessPolicyCelRule { expression }),
            ..AuthorizationRule::default()
        },
    }
}

fn policy(p: usize, kind: Kind) -> XAccessPolicy {
    let target = LocalPolicyTargetReference {
        group: agentnet_api::GROUP.into(),
        kind: "XBackend".into(),
        name: format!("b{}", p % BACKENDS),
        section_name: None,
    };
    let spec = XAccessPolicySpec {
        target_refs: vec![target],
        action: PolicyAction::Allow,
        external_auth: None,
        rules: Some((0..RULES).map(|r| rule(p, r, kind)).collect()),
    };
    let mut x = XAccessPolicy::new(&format!("p{p}"), spec);
    let created = format!("2026-01-01T00:{:02}:{:02}Z", p / 60 % 60, p % 60);
    x.metadata = ObjectMeta {
        namespace: Some("tools".into()),
        name: Some(format!("p{p}")),
        creation_timestamp: Some(Time(created.parse().expect("timestamp"))),
        ..ObjectMeta::default()
    };
    x
}

fn snapshot(policies: usize, kind: Kind) -> Snapshot {
    Snapshot {
        backends: (0..BACKENDS).map(backend).collect(),
        policies: (0..policies).map(|p| policy(p, kind)).collect(),
        ..Snapshot::default()
    }
}

/// The last accepted policy on backend `b0` and its last rule: every rule before it is
/// evaluated first. With 1,000 policies, `b0` has 10 and upstream's limit accepts 5.
fn request(index: &Index, tool: Option<&str>, caller: usize) -> Request {
    let b0 = index.backend("tools", "b0").expect("b0");
    let last = b0
        .policies()
        .last()
        .expect("a policy")
        .name
        .trim_start_matches('p')
        .parse::<usize>()
        .expect("pN");
    let name = tool.map_or_else(|| format!("tool-{last}-{}", RULES - 1), str::to_owned);
    let http = HttpRequest::new("POST", "/mcp", "svc-0.tools:8080", 80)
        .expect("valid")
        .with_header("x-env", "prod-eu");
    let source = Source::service_account("cluster.local", "agents", &format!("agent-{caller}"))
        .expect("valid");
    let message =
        Message::Mcp(McpMessage::tool_call(&name).with_arguments(json!({"a": 1, "b": 2})));
    Request::new(source, BackendRef::new("tools", "b0"), http, message)
}

fn allowed_caller(index: &Index) -> usize {
    let last: usize = index
        .backend("tools", "b0")
        .and_then(|b| b.policies().last())
        .map_or(0, |p| p.name[1..].parse().unwrap_or(0));
    (last + RULES - 1) % CALLERS
}

fn evaluation(c: &mut Criterion) {
    for (policies, kind, label) in [
        (10, Kind::Inline, "inline"),
        (1000, Kind::Inline, "inline"),
        (10, Kind::Cel, "cel"),
        (1000, Kind::Cel, "cel"),
    ] {
        let index = compile(&snapshot(policies, kind), &Settings::default());
        let allow = request(&index, None, allowed_caller(&index));
        assert!(
            index.decide(&allow).is_allowed(),
            "{label}/{policies}: {}",
            index.decide(&allow)
        );
        let deny = request(&index, Some("not-listed"), allowed_caller(&index));
        assert!(!index.decide(&deny).is_allowed());
        c.bench_function(&format!("decide/{label}/{policies}-policies/allow"), |b| {
            b.iter(|| index.decide(black_box(&allow)))
        });
        c.bench_function(&format!("decide/{label}/{policies}-policies/deny"), |b| {
            b.iter(|| index.decide(black_box(&deny)))
        });
    }
}

fn compilation(c: &mut Criterion) {
    let settings = Settings::default();
    for (kind, label) in [(Kind::Inline, "inline"), (Kind::Cel, "cel")] {
        let snap = snapshot(1000, kind);
        c.bench_function(&format!("compile/{label}/1000-policies"), |b| {
            b.iter(|| compile(black_box(&snap), &settings))
        });
        // One policy edited: what a sidecar does on each change.
        let previous = compile(&snap, &settings);
        let mut changed = snap.clone();
        if let Some(rule) = changed.policies[0].spec.rules.iter_mut().flatten().next() {
            rule.name = "edited".into();
            if let Some(cel) = rule.authorization.as_mut().and_then(|a| a.cel.as_mut()) {
                cel.expression.push_str(" && true");
            }
        }
        c.bench_function(
            &format!("recompile/{label}/1000-policies/one-edited"),
            |b| b.iter(|| recompile(black_box(&changed), &settings, &previous)),
        );
    }
}

fn filtering(c: &mut Criterion) {
    let index = compile(&snapshot(1000, Kind::Inline), &Settings::default());
    let mut list = request(&index, None, allowed_caller(&index));
    list.message = Message::Mcp(McpMessage::new("tools/list"));
    let tools: Vec<_> = (0..50)
        .map(|i| json!({"name": format!("tool-{i}-2"), "description": "x"}))
        .collect();
    let result = json!({ "tools": tools });
    c.bench_function("filter/tools-list-50/1000-policies", |b| {
        b.iter_batched(
            || result.clone(),
            |mut r| index.filter_list(black_box(&list), &mut r),
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, evaluation, compilation, filtering);
criterion_main!(benches);
