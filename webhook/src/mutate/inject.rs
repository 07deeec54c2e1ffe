//! Pure injection: a pod and its tuning in, a JSON patch out. No I/O, so every case is
//! a unit test.
//!
//! Operation order matters: env edits come first, while container indices are still
//! the pod's own; then arrays and maps that do not exist are created (`add` to a
//! missing parent fails) before anything is appended or inserted.

use agentnet_api::contract::annotation;
use json_patch::{AddOperation, Patch, PatchOperation, jsonptr::PointerBuf};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use serde::Serialize;
use serde_json::Value;

use super::MutateConfig;
use super::pod_certificate::POD_CERTIFICATE_VOLUME;
use super::pointer;
use super::proxy_env;
use super::sidecar::{self, TOKEN_VOLUME, TRUST_BUNDLE_VOLUME};
use super::tuning::{CaptureMode, Tuning};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    #[error(
        "container {container:?} runs as UID {uid}, the sidecar's: the capture rules exempt \
         that UID, so its traffic would bypass the sidecar; run it as another user"
    )]
    SidecarUid { container: String, uid: i64 },
    #[error(
        "container {container:?} has a {probe} probe on port {port}, which the capture rules \
         send to the inbound (mTLS) listener (agentnet.dev/inbound-port): probe another port, \
         or use an exec probe"
    )]
    ProbeOnInboundPort {
        container: String,
        probe: &'static str,
        port: u16,
    },
    #[error("the pod already has a volume named {0:?}, a name agentnet reserves for its sidecar")]
    VolumeNameInUse(String),
    #[error("cannot encode the patch: {0}")]
    Encode(String),
}

/// The patch that adds the sidecar, its volumes, the app containers' proxy variables
/// and the injection annotations.
pub fn patch(pod: &Pod, cfg: &MutateConfig, tuning: &Tuning) -> Result<Patch, InjectError> {
    let empty = PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&empty);
    reject_reserved_volumes(spec)?;
    if tuning.capture == CaptureMode::Iptables {
        capture_checks::check(spec, cfg.sidecar.sidecar_uid, tuning)?;
    }
    let no_proxy = no_proxy(cfg, tuning);
    let mut ops = env_ops("containers", &spec.containers, &no_proxy)?;
    let init = spec.init_containers.as_deref().unwrap_or_default();
    ops.extend(env_ops("initContainers", init, &no_proxy)?);
    ops.extend(volume_ops(spec, cfg, tuning)?);
    if spec.init_containers.is_none() {
        ops.push(add(
            pointer::from_tokens(["spec", "initContainers"]),
            Value::Array(Vec::new()),
        ));
    }
    let container = sidecar::container(cfg, tuning);
    ops.push(add(
        pointer::index(["spec", "initContainers"], 0),
        encode(&container)?,
    ));
    // Ahead of the sidecar: the rules are in place before any container of the pod
    // (the sidecar's own connections are exempt by its UID).
    if tuning.capture == CaptureMode::Iptables {
        let capture = sidecar::capture_container(cfg, tuning);
        ops.push(add(
            pointer::index(["spec", "initContainers"], 0),
            encode(&capture)?,
        ));
    }
    ops.extend(annotation_ops(pod, cfg));
    Ok(Patch(ops))
}

mod capture_checks {
    //! What iptables capture cannot work with: an app container running as the
    //! sidecar's UID (exempt from the rules), or a kubelet probe on the inbound port
    //! (redirected to the mTLS listener, so it would always fail).

    use k8s_openapi::api::core::v1::{Container, PodSpec, Probe};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::InjectError;
    use crate::mutate::tuning::Tuning;

    pub(super) fn check(
        spec: &PodSpec,
        sidecar_uid: i64,
        tuning: &Tuning,
    ) -> Result<(), InjectError> {
        let pod_uid = spec.security_context.as_ref().and_then(|s| s.run_as_user);
        let containers = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten());
        for c in containers {
            let uid = c
                .security_context
                .as_ref()
                .and_then(|s| s.run_as_user)
                .or(pod_uid);
            if uid == Some(sidecar_uid) {
                return Err(InjectError::SidecarUid {
                    container: c.name.clone(),
                    uid: sidecar_uid,
                });
            }
            if let Some(inbound) = &tuning.inbound {
                probes_avoid(c, inbound.port)?;
            }
        }
        Ok(())
    }

    fn probes_avoid(c: &Container, port: u16) -> Result<(), InjectError> {
        let probes = [
            ("liveness", &c.liveness_probe),
            ("readiness", &c.readiness_probe),
            ("startup", &c.startup_probe),
        ];
        for (probe, p) in probes {
            if p.as_ref().is_some_and(|p| probes_port(p, c, port)) {
                return Err(InjectError::ProbeOnInboundPort {
                    container: c.name.clone(),
                    probe,
                    port,
                });
            }
        }
        Ok(())
    }

    fn probes_port(p: &Probe, c: &Container, port: u16) -> bool {
        let target = p
            .http_get
            .as_ref()
            .map(|h| &h.port)
            .or(p.tcp_socket.as_ref().map(|t| &t.port));
        let grpc = p.grpc.as_ref().map(|g| IntOrString::Int(g.port));
        let resolved = |t: &IntOrString| match t {
            IntOrString::Int(n) => u16::try_from(*n).ok(),
            IntOrString::String(name) => c
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok()),
        };
        target.and_then(resolved) == Some(port) || grpc.as_ref().and_then(resolved) == Some(port)
    }
}

/// NO_PROXY for app containers: loopback and the API server, then annotated hosts.
fn no_proxy(cfg: &MutateConfig, tuning: &Tuning) -> Vec<String> {
    let mut hosts = proxy_env::base_no_proxy(&cfg.sidecar.cluster_domain);
    hosts.extend(tuning.exclude_outbound_hosts.iter().cloned());
    hosts
}

fn env_ops(
    field: &str,
    containers: &[Container],
    no_proxy: &[String],
) -> Result<Vec<PatchOperation>, InjectError> {
    let mut ops = Vec::with_capacity(containers.len());
    for (i, container) in containers.iter().enumerate() {
        let env = proxy_env::with_proxy_env(container, no_proxy);
        let mut path = pointer::index(["spec", field], i);
        path.push_back("env");
        // `add` on an existing member replaces it, so this works with or without env.
        ops.push(add(path, encode(&env)?));
    }
    Ok(ops)
}

fn volume_ops(
    spec: &PodSpec,
    cfg: &MutateConfig,
    tuning: &Tuning,
) -> Result<Vec<PatchOperation>, InjectError> {
    let mut ops = Vec::with_capacity(4);
    if spec.volumes.is_none() {
        ops.push(add(
            pointer::from_tokens(["spec", "volumes"]),
            Value::Array(Vec::new()),
        ));
    }
    for volume in sidecar::volumes(cfg, tuning) {
        ops.push(add(pointer::end(["spec", "volumes"]), encode(&volume)?));
    }
    Ok(ops)
}

fn annotation_ops(pod: &Pod, cfg: &MutateConfig) -> Vec<PatchOperation> {
    let mut ops = Vec::with_capacity(3);
    if pod.metadata.annotations.is_none() {
        let map = Value::Object(serde_json::Map::new());
        ops.push(add(pointer::from_tokens(["metadata", "annotations"]), map));
    }
    for (key, value) in [
        (annotation::INJECTED, "true"),
        (
            annotation::SIDECAR_VERSION,
            cfg.sidecar.sidecar_version.as_str(),
        ),
    ] {
        let path = pointer::from_tokens(["metadata", "annotations", key]);
        ops.push(add(path, Value::String(value.to_owned())));
    }
    ops
}

fn reject_reserved_volumes(spec: &PodSpec) -> Result<(), InjectError> {
    let taken = spec.volumes.iter().flatten().map(|v| v.name.as_str());
    match taken
        .into_iter()
        .find(|n| [TOKEN_VOLUME, TRUST_BUNDLE_VOLUME, POD_CERTIFICATE_VOLUME].contains(n))
    {
        Some(name) => Err(InjectError::VolumeNameInUse(name.to_owned())),
        None => Ok(()),
    }
}

fn add(path: PointerBuf, value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation { path, value })
}

fn encode(value: &impl Serialize) -> Result<Value, InjectError> {
    serde_json::to_value(value).map_err(|e| InjectError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests;
