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
use super::tuning::Tuning;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
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
    ops.extend(annotation_ops(pod, cfg));
    Ok(Patch(ops))
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
