use std::collections::BTreeMap;

use super::*;
use crate::config::Config;

fn defaults() -> Tuning {
    Tuning::defaults(&Config::for_test(&[]).sidecar)
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn resolve(pod: &[(&str, &str)], ns: &[(&str, &str)]) -> Result<Tuning, TuningError> {
    defaults().resolve(&map(pod), "agents", &map(ns))
}

#[test]
fn no_annotations_keep_the_defaults() {
    assert_eq!(resolve(&[], &[]).unwrap(), defaults());
}

#[test]
fn pod_annotations_tune_every_setting() {
    let t = resolve(
        &[
            (key::LOG_LEVEL, "info,agentnet=debug"),
            (key::OUTBOUND_DEFAULT, "deny"),
            (key::BACKEND_DEFAULT, "deny"),
            (
                key::EXCLUDE_OUTBOUND_HOSTS,
                "db.internal, .corp.example,10.0.0.0/8",
            ),
            (key::EXCLUDE_OUTBOUND_PORTS, "5432,6379"),
            (key::CERT_LIFETIME, "30m"),
            (key::PROXY_CPU_LIMIT, "500m"),
            (key::PROXY_MEMORY_LIMIT, "256Mi"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(t.log_level.as_str(), "info,agentnet=debug");
    assert_eq!(t.outbound_default, DefaultAction::Deny);
    assert_eq!(t.backend_default, DefaultAction::Deny);
    assert_eq!(
        t.exclude_outbound_hosts,
        ["db.internal", ".corp.example", "10.0.0.0/8"]
    );
    assert_eq!(t.exclude_outbound_ports, [5432, 6379]);
    assert_eq!(t.cert_lifetime, Duration::from_secs(1800));
    assert_eq!(t.resources.cpu_limit.unwrap().as_str(), "500m");
    assert_eq!(t.resources.memory_limit.unwrap().as_str(), "256Mi");
    assert_eq!(
        t.resources.cpu_request.unwrap().as_str(),
        "10m",
        "unannotated values keep defaults"
    );
}

#[test]
fn namespace_annotations_apply_where_the_pod_has_none() {
    let t = resolve(
        &[(key::LOG_LEVEL, "warn")],
        &[(key::LOG_LEVEL, "debug"), (key::OUTBOUND_DEFAULT, "deny")],
    )
    .unwrap();
    assert_eq!(t.log_level.as_str(), "warn", "the pod wins");
    assert_eq!(
        t.outbound_default,
        DefaultAction::Deny,
        "the namespace fills in"
    );
}

#[test]
fn invalid_pod_annotation_names_annotation_value_and_accepted_values() {
    let err = resolve(&[(key::OUTBOUND_DEFAULT, "maybe")], &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid pod annotation agentnet.dev/outbound-default=\"maybe\": accepted values are allow or deny"
    );
}

#[test]
fn invalid_namespace_annotation_names_the_namespace() {
    let err = resolve(&[], &[(key::CERT_LIFETIME, "forever")]).unwrap_err();
    assert_eq!(
        err,
        TuningError::Invalid {
            origin: Origin::Namespace("agents".into()),
            key: key::CERT_LIFETIME,
            value: "forever".into(),
            accepted: ACCEPT_LIFETIME,
        }
    );
    assert!(
        err.to_string().starts_with(
            "invalid namespace agents annotation agentnet.dev/cert-lifetime=\"forever\""
        )
    );
}

#[test]
fn every_annotation_rejects_garbage() {
    let cases = [
        (key::LOG_LEVEL, "verbose"),
        (key::LOG_LEVEL, "info,=debug"),
        (key::LOG_LEVEL, "agentnet=loud"),
        (key::BACKEND_DEFAULT, "Allow"),
        (key::EXCLUDE_OUTBOUND_HOSTS, "*"),
        (key::EXCLUDE_OUTBOUND_HOSTS, "a b"),
        (key::EXCLUDE_OUTBOUND_PORTS, "0"),
        (key::EXCLUDE_OUTBOUND_PORTS, "70000"),
        (key::EXCLUDE_OUTBOUND_PORTS, "http"),
        (key::CERT_LIFETIME, "30s"),
        (key::CERT_LIFETIME, "25h"),
        (key::PROXY_CPU_REQUEST, "a lot"),
        (key::PROXY_MEMORY_LIMIT, "128MB"),
    ];
    for (k, v) in cases {
        match resolve(&[(k, v)], &[]) {
            Err(TuningError::Invalid { key, value, .. }) => {
                assert_eq!((key, value.as_str()), (k, v))
            }
            other => panic!("{k}={v:?} gave {other:?}"),
        }
    }
}

#[test]
fn unknown_agentnet_annotations_are_listed_and_ignored_not_refused() {
    let tuned = resolve(
        &[
            ("agentnet.dev/loglevel", "debug"),
            ("agentnet.dev/from-the-future", "x"),
            (key::LOG_LEVEL, "info"),
            ("example.com/loglevel", "x"),
        ],
        &[],
    );
    assert!(tuned.is_ok(), "{tuned:?}");
    let pod: Annotations = [
        ("agentnet.dev/loglevel", "debug"),
        ("agentnet.dev/from-the-future", "x"),
        (key::LOG_LEVEL, "info"),
        ("example.com/loglevel", "x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    // Other prefixes are none of our business.
    assert_eq!(
        unknown(&pod),
        ["agentnet.dev/from-the-future", "agentnet.dev/loglevel"]
    );
    // Invalid values of known annotations are still refused.
    assert!(resolve(&[(key::LOG_LEVEL, "not a level!")], &[]).is_err());
}

#[test]
fn request_above_limit_is_rejected_naming_both_annotations() {
    let err = resolve(
        &[
            (key::PROXY_CPU_REQUEST, "2"),
            (key::PROXY_CPU_LIMIT, "500m"),
        ],
        &[],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "proxy cpu request 2 exceeds its limit 500m (annotations agentnet.dev/proxy-cpu-request and agentnet.dev/proxy-cpu-limit)"
    );
    // A raised request also fails against the default limit.
    assert!(resolve(&[(key::PROXY_MEMORY_REQUEST, "1Gi")], &[]).is_err());
}

#[test]
fn log_levels_and_directives_parse() {
    for ok in [
        "info",
        "DEBUG",
        "off",
        "agentnet::audit=trace",
        "warn,agentnet_sidecar=debug,hyper=off",
    ] {
        assert!(ok.parse::<LogLevel>().is_ok(), "{ok}");
    }
    for bad in ["", "loud", "info,", "=info", "a b=info"] {
        assert!(bad.parse::<LogLevel>().is_err(), "{bad:?}");
    }
}

#[test]
fn inbound_annotations_name_the_backend_and_the_app_port() {
    let t = resolve(
        &[
            (key::INBOUND_BACKEND, "planner"),
            (key::INBOUND_PORT, "8080"),
        ],
        &[],
    )
    .unwrap();
    let inbound = t.inbound.unwrap();
    assert_eq!(
        inbound.backend, "agents/planner",
        "the pod's namespace by default"
    );
    assert_eq!(inbound.port, 8080);
    let other = resolve(
        &[
            (key::INBOUND_BACKEND, "tools/planner"),
            (key::INBOUND_PORT, "9000"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(other.inbound.unwrap().backend, "tools/planner");
}

#[test]
fn inbound_annotations_are_validated_and_go_together() {
    let bad_backend = resolve(
        &[
            (key::INBOUND_BACKEND, "Planner!"),
            (key::INBOUND_PORT, "80"),
        ],
        &[],
    );
    assert!(
        matches!(&bad_backend, Err(TuningError::Invalid { key, .. }) if *key == key::INBOUND_BACKEND),
        "{bad_backend:?}"
    );
    let bad_port = resolve(
        &[(key::INBOUND_BACKEND, "planner"), (key::INBOUND_PORT, "0")],
        &[],
    );
    assert!(
        matches!(&bad_port, Err(TuningError::Invalid { key, .. }) if *key == key::INBOUND_PORT)
    );
    let alone = resolve(&[(key::INBOUND_PORT, "8080")], &[]).unwrap_err();
    assert_eq!(alone, TuningError::InboundPair);
    assert!(alone.to_string().contains("set both or neither"));
}

#[test]
fn inbound_annotations_on_the_namespace_are_ignored() {
    let t = resolve(
        &[],
        &[
            (key::INBOUND_BACKEND, "planner"),
            (key::INBOUND_PORT, "8080"),
        ],
    )
    .unwrap();
    assert_eq!(t.inbound, None);
}
