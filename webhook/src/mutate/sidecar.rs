//! The injected sidecar container and the volumes it reads: a projected
//! ServiceAccount token (audience `agentnet`), the trust bundle and, in PodCertificate
//! mode, its `podCertificate` credential bundle.

use std::collections::BTreeMap;
use std::path::Path;

use agentnet_api::contract::{self, env, mount};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, KeyToPath, ObjectFieldSelector, Probe, ProjectedVolumeSource,
    ResourceRequirements, SeccompProfile, SecurityContext, ServiceAccountTokenProjection, Volume,
    VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::MutateConfig;
use super::pod_certificate::{self, POD_CERTIFICATE_VOLUME};
use super::tuning::{ProxyResources, Tuning};
use crate::config::PullPolicy;

pub const TOKEN_VOLUME: &str = "agentnet-token";
pub const TRUST_BUNDLE_VOLUME: &str = "agentnet-trust-bundle";
pub const ADMIN_PORT_NAME: &str = "agentnet-admin";
pub const INBOUND_PORT_NAME: &str = "agentnet-in";

/// The init container that installs the pod's capture rules (`agentnet-sidecar init`,
/// from the sidecar's image): root with `NET_ADMIN` and `NET_RAW` only, for the few
/// milliseconds the rules take; if it cannot install them it fails and the pod never
/// starts (fail closed).
pub fn capture_container(cfg: &MutateConfig, tuning: &Tuning) -> Container {
    let s = &cfg.sidecar;
    let mut args = vec![
        "init".to_owned(),
        "--proxy-uid".to_owned(),
        s.sidecar_uid.to_string(),
    ];
    let mut list = |flag: &str, items: Vec<String>| {
        if !items.is_empty() {
            args.extend([flag.to_owned(), items.join(",")]);
        }
    };
    let inbound = tuning.inbound.iter().map(|i| i.port.to_string()).collect();
    list("--inbound-ports", inbound);
    let ports = tuning
        .exclude_outbound_ports
        .iter()
        .map(u16::to_string)
        .collect();
    list("--exclude-outbound-ports", ports);
    let cidrs = tuning
        .exclude_outbound_cidrs
        .iter()
        .map(ToString::to_string)
        .collect();
    list("--exclude-outbound-cidrs", cidrs);
    Container {
        name: contract::INIT_CONTAINER.into(),
        image: Some(s.sidecar_image.clone()),
        image_pull_policy: Some(pull_policy(s.sidecar_image_pull_policy).into()),
        args: Some(args),
        resources: resources(&tuning.resources),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(false),
            run_as_user: Some(0),
            run_as_group: Some(0),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: Some(vec!["NET_ADMIN".into(), "NET_RAW".into()]),
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                localhost_profile: None,
            }),
            ..SecurityContext::default()
        }),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}

/// The native sidecar: an init container that keeps running (`restartPolicy: Always`)
/// and gates the app's start on its startup probe.
pub fn container(cfg: &MutateConfig, tuning: &Tuning) -> Container {
    let s = &cfg.sidecar;
    Container {
        name: contract::SIDECAR_CONTAINER.into(),
        image: Some(s.sidecar_image.clone()),
        image_pull_policy: Some(pull_policy(s.sidecar_image_pull_policy).into()),
        args: Some(s.args()).filter(|a| !a.is_empty()),
        restart_policy: Some("Always".into()),
        env: Some(sidecar_env(cfg, tuning)),
        ports: Some(vec![
            port(ADMIN_PORT_NAME, contract::ADMIN_PORT),
            port(INBOUND_PORT_NAME, contract::INBOUND_PORT),
        ]),
        // Period 1 s so the app starts as soon as the sidecar is ready; up to 5 min
        // for the first certificate and policy sync before the kubelet restarts it.
        startup_probe: Some(probe("/ready", 1, 300)),
        readiness_probe: Some(probe("/ready", 5, 3)),
        liveness_probe: Some(probe("/live", 10, 3)),
        resources: resources(&tuning.resources),
        security_context: Some(security_context(s.sidecar_uid)),
        volume_mounts: Some(mounts(cfg)),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}

fn mounts(cfg: &MutateConfig) -> Vec<VolumeMount> {
    let mut mounts = vec![
        read_only(TOKEN_VOLUME, mount::TOKEN_DIR),
        read_only(TRUST_BUNDLE_VOLUME, mount::TRUST_BUNDLE_DIR),
    ];
    if cfg.pod_certificates {
        mounts.push(read_only(
            POD_CERTIFICATE_VOLUME,
            mount::POD_CERTIFICATE_DIR,
        ));
    }
    mounts
}

/// The token (short-lived, audience `agentnet`), the trust bundle, which is optional
/// so pods start before the first bundle is published, and in PodCertificate mode the
/// pod certificate.
pub fn volumes(cfg: &MutateConfig, tuning: &Tuning) -> Vec<Volume> {
    let mut volumes = token_and_bundle_volumes(cfg);
    if cfg.pod_certificates {
        volumes.push(pod_certificate::volume(tuning));
    }
    volumes
}

fn token_and_bundle_volumes(cfg: &MutateConfig) -> Vec<Volume> {
    let token = ServiceAccountTokenProjection {
        audience: Some(contract::TOKEN_AUDIENCE.into()),
        expiration_seconds: Some(
            cfg.sidecar
                .token_expiration
                .as_secs()
                .try_into()
                .unwrap_or(i64::MAX),
        ),
        path: file_name(mount::TOKEN_FILE),
        ..ServiceAccountTokenProjection::default()
    };
    let token = Volume {
        name: TOKEN_VOLUME.into(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(vec![VolumeProjection {
                service_account_token: Some(token),
                ..VolumeProjection::default()
            }]),
            ..ProjectedVolumeSource::default()
        }),
        ..Volume::default()
    };
    vec![token, trust_bundle_volume()]
}

fn trust_bundle_volume() -> Volume {
    let key = contract::TRUST_BUNDLE_KEY;
    Volume {
        name: TRUST_BUNDLE_VOLUME.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: contract::TRUST_BUNDLE_CONFIGMAP.into(),
            items: Some(vec![KeyToPath {
                key: key.into(),
                path: file_name(mount::TRUST_BUNDLE_FILE),
                ..KeyToPath::default()
            }]),
            optional: Some(true),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn sidecar_env(cfg: &MutateConfig, t: &Tuning) -> Vec<EnvVar> {
    let mut vars = identity_env(cfg);
    let (loopback, any) = ("127.0.0.1", "0.0.0.0");
    let listen = |ip: &str, port: u16| format!("{ip}:{port}");
    let lifetime = humantime::format_duration(t.cert_lifetime).to_string();
    vars.extend([
        value(env::LOG, t.log_level.as_str()),
        value(env::LOG_FORMAT, log_format(&cfg.sidecar)),
        value(
            env::OUTBOUND_ADDR,
            &listen(loopback, contract::OUTBOUND_PORT),
        ),
        value(env::INBOUND_ADDR, &listen(any, contract::INBOUND_PORT)),
        // The kubelet probes the pod IP, so the admin listener cannot stay on loopback.
        value(env::ADMIN_ADDR, &listen(any, contract::ADMIN_PORT)),
        value(env::OUTBOUND_DEFAULT, t.outbound_default.as_str()),
        value(env::BACKEND_DEFAULT, t.backend_default.as_str()),
        value(env::CERT_LIFETIME, &lifetime),
        value(env::CAPTURE, t.capture.as_str()),
    ]);
    vars.extend(ports_env(t));
    if let Some(inbound) = &t.inbound {
        vars.push(value(env::INBOUND_BACKEND, &inbound.backend));
        vars.push(value(env::INBOUND_FORWARD, &listen(loopback, inbound.port)));
    }
    vars
}

/// Only set when ports are excluded, so the sidecar sees no empty list.
fn ports_env(t: &Tuning) -> Option<EnvVar> {
    let ports: Vec<String> = t
        .exclude_outbound_ports
        .iter()
        .map(u16::to_string)
        .collect();
    (!ports.is_empty()).then(|| value(env::EXCLUDE_OUTBOUND_PORTS, &ports.join(",")))
}

/// Who the workload is and where it gets its certificate.
fn identity_env(cfg: &MutateConfig) -> Vec<EnvVar> {
    let s = &cfg.sidecar;
    let mut vars = vec![
        field(env::POD_NAME, "metadata.name"),
        field(env::POD_NAMESPACE, "metadata.namespace"),
        field(env::SERVICE_ACCOUNT, "spec.serviceAccountName"),
        value(env::TRUST_DOMAIN, &s.trust_domain),
        value(env::CLUSTER_DOMAIN, &s.cluster_domain),
        value(env::IDENTITY_URL, &cfg.identity_url),
        value(env::TOKEN_FILE, mount::TOKEN_FILE),
        value(env::TRUST_BUNDLE_FILE, mount::TRUST_BUNDLE_FILE),
    ];
    if let Some(url) = &cfg.policy_url {
        vars.push(value(env::POLICY_URL, url));
    }
    if cfg.pod_certificates {
        vars.push(value(
            env::POD_CERTIFICATE_FILE,
            mount::POD_CERTIFICATE_FILE,
        ));
    }
    vars
}

fn log_format(s: &crate::config::SidecarConfig) -> &'static str {
    match s.sidecar_log_format {
        crate::config::LogFormat::Json => "json",
        crate::config::LogFormat::Plain => "plain",
    }
}

fn pull_policy(p: PullPolicy) -> &'static str {
    match p {
        PullPolicy::Always => "Always",
        PullPolicy::IfNotPresent => "IfNotPresent",
        PullPolicy::Never => "Never",
    }
}

fn value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn field(name: &str, path: &str) -> EnvVar {
    let selector = ObjectFieldSelector {
        api_version: None,
        field_path: path.into(),
    };
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(selector),
            ..EnvVarSource::default()
        }),
    }
}

fn port(name: &str, number: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: number.into(),
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }
}

fn probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String(ADMIN_PORT_NAME.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(1),
        ..Probe::default()
    }
}

fn security_context(uid: i64) -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}

fn resources(r: &ProxyResources) -> Option<ResourceRequirements> {
    let map = |cpu: &Option<_>, memory: &Option<_>| {
        let entries = [("cpu", cpu), ("memory", memory)]
            .into_iter()
            .filter_map(|(k, q)| {
                q.as_ref()
                    .map(|q: &super::quantity::Quantity| (k.to_owned(), K8sQuantity(q.to_string())))
            });
        Some(entries.collect::<BTreeMap<_, _>>()).filter(|m| !m.is_empty())
    };
    let requirements = ResourceRequirements {
        requests: map(&r.cpu_request, &r.memory_request),
        limits: map(&r.cpu_limit, &r.memory_limit),
        claims: None,
    };
    (requirements.requests.is_some() || requirements.limits.is_some()).then_some(requirements)
}

fn read_only(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

/// The file name part of a contract path (the volume item or projection path).
pub(super) fn file_name(path: &str) -> String {
    let name = Path::new(path).file_name().and_then(|n| n.to_str());
    name.unwrap_or(path).to_owned()
}
