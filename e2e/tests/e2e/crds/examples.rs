//! Example manifests: the project's own (`examples/valid`, `examples/invalid` with a
//! `# expect: <message>` line each) and, when the folder exists, upstream's
//! `crd-examples`, which are read from `../shared/upstream` and never copied here.

use std::path::{Path, PathBuf};

use agentnet_e2e::crds::install_crds;
use agentnet_e2e::{TestNs, repo_root};

use super::{Verdict, submit};

/// Upstream's invalid examples and the message each must be rejected with; a file not
/// listed here must still be rejected by validation.
const UPSTREAM_INVALID: [(&str, &str); 6] = [
    (
        "backend-both.yaml",
        "exactly one of the fields in [serviceName hostname] must be set",
    ),
    (
        "cel-missing-fields.yaml",
        "cel must be specified when type is set to 'CEL'",
    ),
    (
        "policy-v1alpha1-invalid-mcp-method-params.yaml",
        "Params can only be specified for get, call, subscribe, unsubscribe, or read methods",
    ),
    (
        "policy-v1alpha1-wrong-action-ext-auth.yaml",
        "externalAuth must be specified when action is set to 'ExternalAuth'",
    ),
    (
        "policy-v1alpha1-wrong-target-kind.yaml",
        "All targetRefs must have the same Kind",
    ),
    (
        "policy-wrong-authz-type.yaml",
        "Unsupported value: \"InvalidTypeEnum\"",
    ),
];

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Creates every valid file for real and dry-runs every invalid one; returns what
/// went wrong, one line per file.
fn check(ns: &TestNs, valid: &[PathBuf], invalid: &[(PathBuf, Option<String>)]) -> Vec<String> {
    let mut failures = Vec::new();
    for path in valid {
        if let Verdict::Rejected(message) = submit(ns, &read(path), false).unwrap() {
            failures.push(format!("{} was rejected: {message}", file_name(path)));
        }
    }
    for (path, expected) in invalid {
        match (submit(ns, &read(path), true).unwrap(), expected) {
            (Verdict::Accepted, _) => failures.push(format!("{} was accepted", file_name(path))),
            (Verdict::Rejected(message), Some(expected))
                if !message.contains(expected.as_str()) =>
            {
                failures.push(format!(
                    "{}: expected {expected:?}, got: {message}",
                    file_name(path)
                ));
            }
            (Verdict::Rejected(message), None)
                if !message.contains("is invalid") && !message.contains("Invalid value") =>
            {
                failures.push(format!(
                    "{}: not a validation error: {message}",
                    file_name(path)
                ));
            }
            (Verdict::Rejected(_), _) => {}
        }
    }
    failures
}

#[tokio::test]
async fn project_examples_are_accepted_or_rejected_with_their_expected_message() {
    install_crds().await.unwrap();
    let ns = TestNs::new("e2e-crd-examples").await.unwrap();
    let root = repo_root().join("examples");
    let valid = yaml_files(&root.join("valid"));
    let mut invalid = Vec::new();
    for path in yaml_files(&root.join("invalid")) {
        let text = read(&path);
        let expected = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .map(str::to_owned);
        assert!(
            expected.is_some(),
            "{} has no `# expect:` line",
            path.display()
        );
        invalid.push((path, expected));
    }
    assert!(
        valid.len() >= 15 && invalid.len() >= 60,
        "examples are missing: {} valid, {} invalid",
        valid.len(),
        invalid.len()
    );
    let failures = check(&ns, &valid, &invalid);
    assert!(
        failures.is_empty(),
        "{} example(s) misjudged:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} valid examples accepted, {} invalid examples rejected as expected",
        valid.len(),
        invalid.len()
    );
}

/// `AGENTNET_UPSTREAM_EXAMPLES`, or `../shared/upstream/crd-examples` beside the repo.
fn upstream_examples() -> Option<PathBuf> {
    let dir = std::env::var_os("AGENTNET_UPSTREAM_EXAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/upstream/crd-examples"));
    dir.is_dir().then_some(dir)
}

#[tokio::test]
async fn upstream_examples_are_accepted_or_rejected_with_the_expected_meaning() {
    let Some(dir) = upstream_examples() else {
        eprintln!(
            "upstream crd-examples not found; set AGENTNET_UPSTREAM_EXAMPLES to run this check"
        );
        return;
    };
    install_crds().await.unwrap();
    let ns = TestNs::new("e2e-crd-upstream").await.unwrap();
    let valid = yaml_files(&dir.join("valid"));
    let invalid: Vec<_> = yaml_files(&dir.join("invalid"))
        .into_iter()
        .map(|path| {
            let name = file_name(&path);
            let expected = UPSTREAM_INVALID
                .iter()
                .find(|(f, _)| *f == name)
                .map(|(_, m)| (*m).to_owned());
            (path, expected)
        })
        .collect();
    assert!(
        !valid.is_empty() && !invalid.is_empty(),
        "{} has no examples",
        dir.display()
    );
    let failures = check(&ns, &valid, &invalid);
    assert!(
        failures.is_empty(),
        "upstream example(s) misjudged:\n{}",
        failures.join("\n")
    );
    eprintln!(
        "upstream: {} valid accepted, {} invalid rejected",
        valid.len(),
        invalid.len()
    );
}
