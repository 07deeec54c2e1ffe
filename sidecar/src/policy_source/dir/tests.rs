use std::fs;

use super::*;

const BACKEND: &str = "apiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {name: b, namespace: n}\nspec: {mcp: {hostname: example.com, port: 443}}\n";
const OTHER: &str = "apiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {name: c, namespace: n}\nspec: {mcp: {hostname: example.org, port: 443}}\n";

#[test]
fn reads_changes_and_keeps_the_last_good_content_of_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backends.yaml");
    fs::write(&file, BACKEND).unwrap();
    fs::write(dir.path().join(".hidden.yaml"), "not: [yaml").unwrap();
    fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
    let mut source = DirSource::new(dir.path().to_owned());
    assert!(source.scan().unwrap());
    assert_eq!(source.snapshot().backends.len(), 1);
    assert!(!source.scan().unwrap(), "nothing changed");

    fs::write(&file, "this: [is broken").unwrap();
    assert!(
        !source.scan().unwrap(),
        "a change waits one interval to settle"
    );
    assert!(source.scan().unwrap());
    assert_eq!(
        source.snapshot().backends.len(),
        1,
        "the last good content stays"
    );
    let problems = source.problems();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].source.ends_with("backends.yaml") && problems[0].message.contains("not YAML")
    );

    fs::write(dir.path().join("more.yml"), OTHER).unwrap();
    fs::write(
        &file,
        format!("{BACKEND}---\n{OTHER}").replace("name: c", "name: d"),
    )
    .unwrap();
    source.scan().unwrap();
    assert!(source.scan().unwrap());
    assert_eq!(source.snapshot().backends.len(), 3);
    assert!(source.problems().is_empty());

    fs::remove_file(&file).unwrap();
    assert!(source.scan().unwrap());
    assert_eq!(source.snapshot().backends.len(), 1);
}

#[test]
fn a_file_that_never_parsed_contributes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("bad.yaml"), "kind: [").unwrap();
    let mut source = DirSource::new(dir.path().to_owned());
    assert!(source.scan().unwrap());
    assert_eq!(source.snapshot().backends.len(), 0);
    assert_eq!(source.problems().len(), 1);
}

#[test]
fn a_file_caught_mid_write_is_read_only_once_it_settles() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    fs::write(&file, BACKEND).unwrap();
    let mut source = DirSource::new(dir.path().to_owned());
    assert!(source.scan().unwrap());

    // A writer that truncated the file and has not written it yet: an empty file is
    // a valid manifest, and reading it now would drop the backend.
    fs::write(&file, "").unwrap();
    assert!(!source.scan().unwrap());
    assert_eq!(
        source.snapshot().backends.len(),
        1,
        "not read while in flux"
    );
    fs::write(&file, format!("{BACKEND}---\n{OTHER}")).unwrap();
    assert!(!source.scan().unwrap());
    assert_eq!(source.snapshot().backends.len(), 1);
    assert!(
        source.scan().unwrap(),
        "read once unchanged for a whole interval"
    );
    assert_eq!(source.snapshot().backends.len(), 2);
}

#[test]
fn an_empty_directory_is_a_change_on_the_first_scan_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut source = DirSource::new(dir.path().to_owned());
    assert!(source.scan().unwrap(), "an empty policy is published once");
    assert!(source.snapshot().backends.is_empty());
    assert!(!source.scan().unwrap());
}

#[tokio::test]
async fn a_sidecar_with_an_empty_directory_becomes_synced() {
    let dir = tempfile::tempdir().unwrap();
    let settings = agentnet_policy::Settings::default();
    let state = crate::policy_source::PolicyState::new(&settings);
    let publisher = Publisher::new(state.clone(), settings);
    let task = tokio::spawn(run(
        DirSource::new(dir.path().to_owned()),
        publisher,
        Duration::from_millis(10),
    ));
    let synced = async {
        while !state.is_synced() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), synced)
        .await
        .expect("synced within 5 s");
    assert_eq!(state.generation(), 1, "the empty policy was published");
    task.abort();
}
