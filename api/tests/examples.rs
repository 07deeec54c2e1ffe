//! The example manifests against the Rust types: every valid manifest (the project's,
//! and upstream's when `../shared/upstream/crd-examples` exists) deserializes without
//! losing a field, and every XAccessPolicy reads back unchanged after a trip through
//! the other version. (The e2e tests check the same files against a real API server.)

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use agentnet_api::conversion::convert_object;
use agentnet_api::{v0alpha0, v1alpha1};
use serde::Deserialize;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn manifests(dirs: &[PathBuf]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for path in files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        {
            let text = std::fs::read_to_string(path).unwrap();
            for doc in serde_yaml::Deserializer::from_str(&text) {
                out.push((path.display().to_string(), Value::deserialize(doc).unwrap()));
            }
        }
    }
    out
}

fn valid_manifests() -> Vec<(String, Value)> {
    let upstream = std::env::var_os("AGENTNET_UPSTREAM_EXAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/upstream/crd-examples"));
    let all = manifests(&[repo().join("examples/valid"), upstream.join("valid")]);
    assert!(all.len() >= 20, "only {} valid manifests found", all.len());
    all
}

/// Every value of `original` is in `typed` (which may add defaults).
fn is_contained(original: &Value, typed: &Value) -> bool {
    match (original, typed) {
        (Value::Object(o), Value::Object(t)) => o
            .iter()
            .all(|(k, v)| t.get(k).is_some_and(|tv| is_contained(v, tv))),
        (Value::Array(o), Value::Array(t)) => {
            o.len() == t.len() && o.iter().zip(t).all(|(a, b)| is_contained(a, b))
        }
        _ => original == typed,
    }
}

fn typed(manifest: &Value) -> Value {
    let version = manifest["apiVersion"].as_str().unwrap();
    let result = match (
        version.rsplit('/').next().unwrap(),
        manifest["kind"].as_str().unwrap(),
    ) {
        ("v0alpha0", "XBackend") => {
            serde_json::from_value::<v0alpha0::XBackend>(manifest.clone()).map(to_value)
        }
        ("v0alpha0", "XAccessPolicy") => {
            serde_json::from_value::<v0alpha0::XAccessPolicy>(manifest.clone()).map(to_value)
        }
        ("v1alpha1", "XAccessPolicy") => {
            serde_json::from_value::<v1alpha1::XAccessPolicy>(manifest.clone()).map(to_value)
        }
        other => panic!("unexpected manifest {other:?}"),
    };
    result.unwrap()
}

fn to_value<T: serde::Serialize>(object: T) -> Value {
    serde_json::to_value(object).unwrap()
}

#[test]
fn valid_manifests_deserialize_without_losing_a_field() {
    for (file, manifest) in valid_manifests() {
        let typed = typed(&manifest);
        assert!(
            is_contained(&manifest["spec"], &typed["spec"]),
            "{file}: {manifest}\nbecame {typed}"
        );
    }
}

#[test]
fn valid_policies_read_back_unchanged_after_a_trip_through_the_other_version() {
    let mut converted = 0;
    for (file, manifest) in valid_manifests() {
        if manifest["kind"] != "XAccessPolicy" {
            continue;
        }
        let own = manifest["apiVersion"].as_str().unwrap();
        let other = if own.ends_with("v0alpha0") {
            "agentic.networking.x-k8s.io/v1alpha1"
        } else {
            "agentic.networking.x-k8s.io/v0alpha0"
        };
        let there =
            convert_object(manifest.clone(), other).unwrap_or_else(|e| panic!("{file}: {e}"));
        let back = convert_object(there, own).unwrap();
        assert_eq!(typed(&back)["spec"], typed(&manifest)["spec"], "{file}");
        assert_eq!(
            back["metadata"], manifest["metadata"],
            "{file}: annotations consumed"
        );
        converted += 1;
    }
    assert!(converted >= 10, "only {converted} policies");
}
