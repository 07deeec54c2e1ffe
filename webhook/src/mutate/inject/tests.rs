use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Volume};
use serde_json::json;

use super::*;
use crate::mutate::tuning::Tuning;

fn cfg() -> MutateConfig {
    MutateConfig::for_test()
}

fn tuning(cfg: &MutateConfig) -> Tuning {
    cfg.defaults.clone()
}

fn app(name: &str) -> Container {
    Container {
        name: name.into(),
        image: Some("example.com/agent:1.0".into()),
        ..Container::default()
    }
}

/// A pod as the API server sends it when it has no volumes, init containers or
/// annotations (automountServiceAccountToken: false).
fn bare_pod() -> Pod {
    Pod {
        spec: Some(PodSpec {
            containers: vec![app("app")],
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

fn paths(patch: &Patch) -> Vec<String> {
    patch.0.iter().map(|op| op_path(op).to_owned()).collect()
}

fn op_path(op: &PatchOperation) -> &str {
    match op {
        PatchOperation::Add(a) => a.path.as_str(),
        other => panic!("only add operations are expected, got {other:?}"),
    }
}

/// The injected sidecar container of a pod.
fn sidecar_of(pod: &Pod) -> Container {
    let init = pod.spec.as_ref().unwrap().init_containers.clone().unwrap();
    init.into_iter()
        .find(|c| c.name == "agentnet-sidecar")
        .unwrap()
}

fn apply(pod: &Pod, patch: &Patch) -> Pod {
    let mut doc = serde_json::to_value(pod).unwrap();
    json_patch::patch(&mut doc, patch).unwrap();
    serde_json::from_value(doc).unwrap()
}

#[test]
fn creates_missing_arrays_and_maps_before_adding_to_them() {
    let cfg = cfg();
    let patch = patch(&bare_pod(), &cfg, &tuning(&cfg)).unwrap();
    assert_eq!(
        paths(&patch),
        [
            "/spec/containers/0/env",
            "/spec/volumes",
            "/spec/volumes/-",
            "/spec/volumes/-",
            "/spec/initContainers",
            "/spec/initContainers/0",
            "/spec/initContainers/0",
            "/metadata/annotations",
            "/metadata/annotations/agentnet.dev~1injected",
            "/metadata/annotations/agentnet.dev~1sidecar-version",
        ]
    );
    let injected = apply(&bare_pod(), &patch);
    let spec = injected.spec.unwrap();
    let init: Vec<String> = spec
        .init_containers
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(init, ["agentnet-init", "agentnet-sidecar"]);
    let volumes: Vec<String> = spec.volumes.unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(volumes, ["agentnet-token", "agentnet-trust-bundle"]);
    let annotations = injected.metadata.annotations.unwrap();
    assert_eq!(annotations["agentnet.dev/injected"], "true");
    assert_eq!(annotations["agentnet.dev/sidecar-version"], "0.1.0");
}

#[test]
fn appends_to_existing_arrays_and_maps_without_replacing_them() {
    let mut pod = bare_pod();
    pod.metadata.annotations = Some(BTreeMap::from([("team".to_owned(), "ml".to_owned())]));
    let spec = pod.spec.as_mut().unwrap();
    spec.volumes = Some(vec![Volume {
        name: "data".into(),
        ..Volume::default()
    }]);
    spec.init_containers = Some(vec![app("migrate")]);
    let cfg = cfg();
    let patch = patch(&pod, &cfg, &tuning(&cfg)).unwrap();
    assert!(!paths(&patch).contains(&"/spec/volumes".to_owned()));
    assert!(!paths(&patch).contains(&"/metadata/annotations".to_owned()));

    let injected = apply(&pod, &patch);
    let spec = injected.spec.unwrap();
    let init: Vec<String> = spec
        .init_containers
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        init,
        ["agentnet-init", "agentnet-sidecar", "migrate"],
        "the capture rules first, then the sidecar, then the pod's own init containers"
    );
    let volumes: Vec<String> = spec.volumes.unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(volumes, ["data", "agentnet-token", "agentnet-trust-bundle"]);
    assert_eq!(injected.metadata.annotations.unwrap()["team"], "ml");
}

#[test]
fn every_app_and_init_container_gets_the_proxy_but_not_the_sidecar_itself() {
    let mut pod = bare_pod();
    let spec = pod.spec.as_mut().unwrap();
    spec.containers.push(app("helper"));
    spec.init_containers = Some(vec![app("migrate")]);
    let cfg = cfg();
    let injected = apply(&pod, &patch(&pod, &cfg, &tuning(&cfg)).unwrap());
    let spec = injected.spec.unwrap();
    let has_proxy = |c: &Container| c.env.iter().flatten().any(|v| v.name == "HTTP_PROXY");
    assert!(spec.containers.iter().all(has_proxy));
    let init = spec.init_containers.unwrap();
    assert!(
        !has_proxy(&init[0]),
        "the capture init container needs no proxy"
    );
    assert!(!has_proxy(&init[1]), "the sidecar must not proxy to itself");
    assert!(has_proxy(&init[2]));
}

#[test]
fn annotated_excluded_hosts_reach_no_proxy() {
    let cfg = cfg();
    let mut t = tuning(&cfg);
    t.exclude_outbound_hosts = vec!["db.internal".into()];
    let injected = apply(&bare_pod(), &patch(&bare_pod(), &cfg, &t).unwrap());
    let env = injected.spec.unwrap().containers[0].env.clone().unwrap();
    let no_proxy = env
        .iter()
        .find(|v| v.name == "NO_PROXY")
        .unwrap()
        .value
        .clone()
        .unwrap();
    assert!(no_proxy.ends_with(",db.internal"), "{no_proxy}");
}

#[test]
fn a_volume_with_a_reserved_name_is_an_error() {
    let mut pod = bare_pod();
    pod.spec.as_mut().unwrap().volumes = Some(vec![Volume {
        name: "agentnet-token".into(),
        ..Volume::default()
    }]);
    let cfg = cfg();
    let err = patch(&pod, &cfg, &tuning(&cfg)).unwrap_err();
    assert_eq!(err, InjectError::VolumeNameInUse("agentnet-token".into()));
    assert!(err.to_string().contains("reserves"));
}

#[test]
fn patch_for_a_bare_pod_snapshot() {
    let cfg = cfg();
    let patch = patch(&bare_pod(), &cfg, &tuning(&cfg)).unwrap();
    insta::assert_json_snapshot!(patch);
}

#[test]
fn sidecar_mounts_are_where_the_contract_says() {
    let cfg = cfg();
    let injected = apply(
        &bare_pod(),
        &patch(&bare_pod(), &cfg, &tuning(&cfg)).unwrap(),
    );
    let sidecar = sidecar_of(&injected);
    let env: BTreeMap<String, Option<String>> = sidecar
        .env
        .unwrap()
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect();
    let token_file = env[agentnet_api::contract::env::TOKEN_FILE]
        .clone()
        .unwrap();
    let bundle_file = env[agentnet_api::contract::env::TRUST_BUNDLE_FILE]
        .clone()
        .unwrap();
    let mounts = sidecar.volume_mounts.unwrap();
    assert!(token_file.starts_with(&format!("{}/", mounts[0].mount_path)));
    assert!(bundle_file.starts_with(&format!("{}/", mounts[1].mount_path)));
    assert_eq!(json!(mounts[0].read_only), json!(true));
}

#[test]
fn pod_certificate_mode_adds_the_volume_mount_and_env() {
    let cfg = MutateConfig::from_config(&crate::config::Config::for_test(&[
        "--identity-pod-certificates=true",
    ]));
    let mut t = tuning(&cfg);
    t.cert_lifetime = std::time::Duration::from_secs(7200);
    let injected = apply(&bare_pod(), &patch(&bare_pod(), &cfg, &t).unwrap());
    let sidecar = sidecar_of(&injected);
    let spec = injected.spec.unwrap();
    let volume = spec
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "agentnet-pod-certificate")
        .unwrap();
    let projection = volume.projected.unwrap().sources.unwrap()[0]
        .pod_certificate
        .clone()
        .unwrap();
    assert_eq!(projection.signer_name, "agentnet.dev/identity");
    assert_eq!(projection.key_type, "ECDSAP256");
    assert_eq!(projection.max_expiration_seconds, Some(7200));
    assert_eq!(
        projection.credential_bundle_path.as_deref(),
        Some("credentials.pem")
    );
    let mounts = sidecar.volume_mounts.as_ref().unwrap();
    assert!(mounts.iter().any(|m| m.name == "agentnet-pod-certificate"
        && m.mount_path == "/var/run/secrets/agentnet.dev/pod-certificate"));
    let env = sidecar.env.as_ref().unwrap();
    let file = env
        .iter()
        .find(|e| e.name == "AGENTNET_POD_CERTIFICATE_FILE")
        .and_then(|e| e.value.as_deref());
    assert_eq!(
        file,
        Some("/var/run/secrets/agentnet.dev/pod-certificate/credentials.pem")
    );
}

#[test]
fn pod_certificate_lifetime_is_at_least_the_api_minimum_and_off_by_default() {
    let cfg = MutateConfig::from_config(&crate::config::Config::for_test(&[
        "--identity-pod-certificates=true",
    ]));
    let mut t = tuning(&cfg);
    t.cert_lifetime = std::time::Duration::from_secs(120);
    let volume = crate::mutate::pod_certificate::volume(&t);
    let sources = volume.projected.unwrap().sources.unwrap();
    assert_eq!(
        sources[0]
            .pod_certificate
            .as_ref()
            .unwrap()
            .max_expiration_seconds,
        Some(3600)
    );
    let default = MutateConfig::for_test();
    let spec = apply(
        &bare_pod(),
        &patch(&bare_pod(), &default, &tuning(&default)).unwrap(),
    )
    .spec
    .unwrap();
    assert!(
        spec.volumes
            .unwrap()
            .iter()
            .all(|v| v.name != "agentnet-pod-certificate")
    );
}

#[test]
fn inbound_settings_reach_the_sidecar_env() {
    let cfg = cfg();
    let mut tuning = tuning(&cfg);
    tuning.inbound = Some(crate::mutate::tuning::Inbound {
        backend: "agents/planner".into(),
        port: 8080,
    });
    let pod = apply(&bare_pod(), &patch(&bare_pod(), &cfg, &tuning).unwrap());
    let sidecar = &sidecar_of(&pod);
    let env: BTreeMap<_, _> = sidecar
        .env
        .iter()
        .flatten()
        .filter_map(|e| Some((e.name.as_str(), e.value.clone()?)))
        .collect();
    assert_eq!(
        env.get("AGENTNET_INBOUND_BACKEND").map(String::as_str),
        Some("agents/planner")
    );
    assert_eq!(
        env.get("AGENTNET_INBOUND_FORWARD").map(String::as_str),
        Some("127.0.0.1:8080")
    );
    let plain = apply(
        &bare_pod(),
        &patch(&bare_pod(), &cfg, &self::tuning(&cfg)).unwrap(),
    );
    let plain_env = sidecar_of(&plain).env.clone().unwrap_or_default();
    assert!(
        plain_env
            .iter()
            .all(|e| !e.name.starts_with("AGENTNET_INBOUND_B"))
    );
}

#[test]
fn capture_runs_first_with_net_admin_only_and_the_sidecar_knows_it() {
    let cfg = cfg();
    let mut t = tuning(&cfg);
    t.exclude_outbound_ports = vec![5432];
    t.exclude_outbound_cidrs = vec!["10.1.0.0/16".parse().unwrap()];
    t.inbound = Some(crate::mutate::tuning::Inbound {
        backend: "agents/planner".into(),
        port: 8080,
    });
    let pod = apply(&bare_pod(), &patch(&bare_pod(), &cfg, &t).unwrap());
    let init = pod.spec.as_ref().unwrap().init_containers.clone().unwrap();
    let capture = &init[0];
    assert_eq!(capture.name, "agentnet-init");
    assert_eq!(capture.image, sidecar_of(&pod).image);
    assert_eq!(
        capture.args.clone().unwrap(),
        [
            "init",
            "--proxy-uid",
            "15000",
            "--inbound-ports",
            "8080",
            "--exclude-outbound-ports",
            "5432",
            "--exclude-outbound-cidrs",
            "10.1.0.0/16"
        ]
    );
    let security = capture.security_context.clone().unwrap();
    let caps = security.capabilities.unwrap();
    assert_eq!(caps.add.unwrap(), ["NET_ADMIN", "NET_RAW"]);
    assert_eq!(caps.drop.unwrap(), ["ALL"]);
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert!(
        capture.restart_policy.is_none(),
        "it runs once, before the sidecar"
    );
    let app = &pod.spec.as_ref().unwrap().containers[0];
    assert!(
        app.security_context.is_none(),
        "the app gets no capability from us"
    );
    let capture_env = sidecar_of(&pod).env.unwrap();
    assert!(
        capture_env
            .iter()
            .any(|e| e.name == "AGENTNET_CAPTURE" && e.value.as_deref() == Some("iptables"))
    );
    assert_eq!(
        sidecar_of(&pod).security_context.unwrap().run_as_user,
        Some(15000)
    );

    t.capture = crate::mutate::tuning::CaptureMode::ProxyEnv;
    let pod = apply(&bare_pod(), &patch(&bare_pod(), &cfg, &t).unwrap());
    let init = pod.spec.as_ref().unwrap().init_containers.clone().unwrap();
    assert_eq!(init.len(), 1, "proxy-env: no capture container");
    let env = sidecar_of(&pod).env.unwrap();
    assert!(
        env.iter()
            .any(|e| e.name == "AGENTNET_CAPTURE" && e.value.as_deref() == Some("proxy-env"))
    );
}

#[test]
fn pods_that_would_bypass_or_break_capture_are_refused_with_the_fix() {
    let cfg = cfg();
    let mut pod = bare_pod();
    pod.spec.as_mut().unwrap().containers[0].security_context =
        Some(k8s_openapi::api::core::v1::SecurityContext {
            run_as_user: Some(15000),
            ..Default::default()
        });
    let err = patch(&pod, &cfg, &tuning(&cfg)).unwrap_err();
    assert!(
        err.to_string().contains("runs as UID 15000, the sidecar's"),
        "{err}"
    );
    let mut t = tuning(&cfg);
    t.capture = crate::mutate::tuning::CaptureMode::ProxyEnv;
    assert!(
        patch(&pod, &cfg, &t).is_ok(),
        "without capture the UID exempts nothing"
    );

    let mut pod = bare_pod();
    pod.spec.as_mut().unwrap().containers[0].readiness_probe =
        Some(k8s_openapi::api::core::v1::Probe {
            http_get: Some(k8s_openapi::api::core::v1::HTTPGetAction {
                port: k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8080),
                ..Default::default()
            }),
            ..Default::default()
        });
    let mut t = tuning(&cfg);
    t.inbound = Some(crate::mutate::tuning::Inbound {
        backend: "agents/planner".into(),
        port: 8080,
    });
    let err = patch(&pod, &cfg, &t).unwrap_err();
    assert!(
        err.to_string().contains("readiness probe on port 8080"),
        "{err}"
    );
}
