//! YAML (or JSON) manifests, as `kubectl apply -f` takes them, into the objects a
//! policy snapshot holds: XBackend, XAccessPolicy (v1alpha1, or v0alpha0 converted),
//! Service, EndpointSlice, RateLimitPolicy (agentnet.dev) and ReferenceGrant (Gateway
//! API). Other kinds are ignored; `List`s are expanded.

use agentnet_api::agentnet_dev::RateLimitPolicy;
use agentnet_api::conversion::convert_object;
use agentnet_api::reference_grant::ReferenceGrant;
use agentnet_api::v0alpha0::XBackend;
use agentnet_api::v1alpha1::XAccessPolicy;
use agentnet_policy::Snapshot;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const V1ALPHA1: &str = "agentic.networking.x-k8s.io/v1alpha1";

#[derive(Clone, Debug)]
pub enum Object {
    Backend(XBackend),
    Policy(XAccessPolicy),
    Service(Service),
    EndpointSlice(EndpointSlice),
    RateLimit(RateLimitPolicy),
    ReferenceGrant(ReferenceGrant),
}

/// Why a manifest file cannot be used; the document is counted from 1.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("document {doc}: not YAML: {source}")]
    Yaml {
        doc: usize,
        source: serde_yaml::Error,
    },
    #[error("document {doc}: {kind} {name}: {message}")]
    Object {
        doc: usize,
        kind: String,
        name: String,
        message: String,
    },
}

/// Parses every document; one bad document fails the whole file, so a half-read file
/// never replaces a good one.
pub fn parse(text: &str) -> Result<Vec<Object>, ManifestError> {
    let mut objects = Vec::new();
    for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let doc = i + 1;
        let value =
            Value::deserialize(document).map_err(|source| ManifestError::Yaml { doc, source })?;
        collect(value, doc, &mut objects)?;
    }
    Ok(objects)
}

fn collect(value: Value, doc: usize, out: &mut Vec<Object>) -> Result<(), ManifestError> {
    let text = |field: &str| {
        value
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    if (api_version.as_str(), kind.as_str()) == ("v1", "List") {
        let items = value
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        return items
            .into_iter()
            .try_for_each(|item| collect(item, doc, out));
    }
    if let Some(object) = object(&api_version, &kind, value, doc)? {
        out.push(object);
    }
    Ok(())
}

/// The object a document holds, if it is a kind policy reads.
fn object(
    api_version: &str,
    kind: &str,
    value: Value,
    doc: usize,
) -> Result<Option<Object>, ManifestError> {
    const V0ALPHA0: &str = "agentic.networking.x-k8s.io/v0alpha0";
    Ok(Some(match (api_version, kind) {
        (V0ALPHA0, "XBackend") => Object::Backend(typed(value, doc)?),
        (V1ALPHA1, "XAccessPolicy") => Object::Policy(typed(value, doc)?),
        (V0ALPHA0, "XAccessPolicy") => Object::Policy(typed(upgrade(value, doc)?, doc)?),
        ("v1", "Service") => Object::Service(typed(value, doc)?),
        ("discovery.k8s.io/v1", "EndpointSlice") => Object::EndpointSlice(typed(value, doc)?),
        ("agentnet.dev/v1alpha1", "RateLimitPolicy") => Object::RateLimit(typed(value, doc)?),
        ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant") => {
            Object::ReferenceGrant(typed(value, doc)?)
        }
        _ => return Ok(None),
    }))
}

fn upgrade(value: Value, doc: usize) -> Result<Value, ManifestError> {
    let error = object_error(&value, doc);
    convert_object(value, V1ALPHA1).map_err(|e| error(e.to_string()))
}

/// Deserializes into `T`, defaulting the namespace to `default` as kubectl does.
fn typed<T: DeserializeOwned>(mut value: Value, doc: usize) -> Result<T, ManifestError> {
    let error = object_error(&value, doc);
    let metadata = value
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| error("no metadata".into()))?;
    if !metadata.get("name").is_some_and(Value::is_string) {
        return Err(error("metadata.name is required".into()));
    }
    metadata
        .entry("namespace")
        .or_insert_with(|| Value::String("default".into()));
    serde_json::from_value(value).map_err(|e| error(e.to_string()))
}

fn object_error(value: &Value, doc: usize) -> impl Fn(String) -> ManifestError + use<> {
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
        .to_owned();
    move |message| ManifestError::Object {
        doc,
        kind: kind.clone(),
        name: name.clone(),
        message,
    }
}

/// The snapshot of a set of objects.
pub fn snapshot(objects: impl IntoIterator<Item = Object>) -> Snapshot {
    let mut s = Snapshot::default();
    for object in objects {
        match object {
            Object::Backend(b) => s.backends.push(b),
            Object::Policy(p) => s.policies.push(p),
            Object::Service(svc) => s.services.push(svc),
            Object::EndpointSlice(e) => s.endpoint_slices.push(e),
            Object::RateLimit(r) => s.rate_limits.push(r),
            Object::ReferenceGrant(g) => s.reference_grants.push(g),
        }
    }
    s
}

#[cfg(test)]
mod tests;
