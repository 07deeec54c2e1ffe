//! Whole-object conversion, as a ConversionReview asks for it.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{GROUP, v0alpha0 as v0, v1alpha1 as v1};

use super::{
    ConversionError, V0ALPHA0_SPEC_ANNOTATION, V1ALPHA1_SPEC_ANNOTATION, to_v0alpha0_view,
    to_v1alpha1,
};

const KIND: &str = "XAccessPolicy";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    V0alpha0,
    V1alpha1,
}

/// Converts one XAccessPolicy object (as JSON) to `desired_api_version`. Metadata and
/// status are kept; only the spec, `apiVersion` and agentnet's conversion annotations
/// change. An object already at the desired version is returned unchanged.
pub fn convert_object(
    mut object: Value,
    desired_api_version: &str,
) -> Result<Value, ConversionError> {
    let desired = version_of(desired_api_version)?;
    let current = version_of(text(&object, "apiVersion")?)?;
    let kind = text(&object, "kind")?;
    if kind != KIND {
        return Err(ConversionError::UnsupportedKind(kind.to_owned()));
    }
    if current == desired {
        return Ok(object);
    }
    let spec = object
        .get("spec")
        .cloned()
        .ok_or(ConversionError::Missing("spec"))?;
    let mut annotations = take_annotations(&mut object);
    let spec = match desired {
        Version::V1alpha1 => up(spec, &mut annotations)?,
        Version::V0alpha0 => down(spec, &mut annotations)?,
    };
    object["spec"] = spec;
    object["apiVersion"] = Value::String(desired_api_version.to_owned());
    put_annotations(&mut object, annotations);
    Ok(object)
}

fn up(spec: Value, annotations: &mut Map<String, Value>) -> Result<Value, ConversionError> {
    let old: v0::XAccessPolicySpec = parse("v0alpha0", spec)?;
    let stashed: Option<v1::XAccessPolicySpec> = take(annotations, V1ALPHA1_SPEC_ANNOTATION);
    annotations.remove(V0ALPHA0_SPEC_ANNOTATION);
    let new = match stashed.filter(|s| to_v0alpha0_view(s) == old) {
        Some(restored) => restored,
        None => to_v1alpha1(&old)?,
    };
    if to_v0alpha0_view(&new) != old {
        stash(annotations, V0ALPHA0_SPEC_ANNOTATION, &old)?;
    }
    serialize("v1alpha1", &new)
}

fn down(spec: Value, annotations: &mut Map<String, Value>) -> Result<Value, ConversionError> {
    let old: v1::XAccessPolicySpec = parse("v1alpha1", spec)?;
    let stashed: Option<v0::XAccessPolicySpec> = take(annotations, V0ALPHA0_SPEC_ANNOTATION);
    annotations.remove(V1ALPHA1_SPEC_ANNOTATION);
    let converts_back = |s: &v0::XAccessPolicySpec| to_v1alpha1(s).is_ok_and(|up| up == old);
    let new = match stashed.filter(|s| converts_back(s)) {
        Some(restored) => restored,
        None => to_v0alpha0_view(&old),
    };
    if !converts_back(&new) {
        stash(annotations, V1ALPHA1_SPEC_ANNOTATION, &old)?;
    }
    serialize("v0alpha0", &new)
}

fn version_of(api_version: &str) -> Result<Version, ConversionError> {
    match api_version.split_once('/') {
        Some((GROUP, "v0alpha0")) => Ok(Version::V0alpha0),
        Some((GROUP, "v1alpha1")) => Ok(Version::V1alpha1),
        _ => Err(ConversionError::UnsupportedVersion(api_version.to_owned())),
    }
}

fn text<'a>(object: &'a Value, field: &'static str) -> Result<&'a str, ConversionError> {
    object
        .get(field)
        .and_then(Value::as_str)
        .ok_or(ConversionError::Missing(field))
}

fn parse<T: DeserializeOwned>(version: &'static str, spec: Value) -> Result<T, ConversionError> {
    serde_json::from_value(spec).map_err(|source| ConversionError::Malformed { version, source })
}

fn serialize<T: Serialize>(version: &'static str, spec: &T) -> Result<Value, ConversionError> {
    serde_json::to_value(spec).map_err(|source| ConversionError::Malformed { version, source })
}

/// A stashed spec, removed from the annotations. One that does not parse is dropped:
/// the object's own spec is authoritative.
fn take<T: DeserializeOwned>(annotations: &mut Map<String, Value>, key: &str) -> Option<T> {
    let value = annotations.remove(key)?;
    serde_json::from_str(value.as_str()?).ok()
}

fn stash<T: Serialize>(
    annotations: &mut Map<String, Value>,
    key: &str,
    spec: &T,
) -> Result<(), ConversionError> {
    let json = serde_json::to_string(spec).map_err(|source| ConversionError::Malformed {
        version: "stashed",
        source,
    })?;
    annotations.insert(key.to_owned(), Value::String(json));
    Ok(())
}

fn take_annotations(object: &mut Value) -> Map<String, Value> {
    match object.pointer_mut("/metadata/annotations").map(Value::take) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn put_annotations(object: &mut Value, annotations: Map<String, Value>) {
    let Some(Value::Object(metadata)) = object.get_mut("metadata") else {
        if !annotations.is_empty() {
            object["metadata"] = serde_json::json!({ "annotations": annotations });
        }
        return;
    };
    if annotations.is_empty() {
        metadata.remove("annotations");
    } else {
        metadata.insert("annotations".to_owned(), Value::Object(annotations));
    }
}
