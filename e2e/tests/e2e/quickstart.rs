//! The README's first command, `hack/demo.sh`, run as a test: its own private control
//! plane, the chart with the webhook, the injected agent Pod, real MCP servers
//! (server-everything, the Python SDK) and an a2a-sdk agent, the sidecar with the Pod's
//! identity, a live policy edit, `explain` and teardown. The script checks each outcome
//! itself; this test reads its JSON report (`AGENTNET_DEMO_REPORT`) and checks them
//! again, together with the sidecar's metrics counters and its audit line for every
//! decision.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use agentnet_e2e::repo_root;
use agentnet_e2e::sidecar::sidecar_binary;
use agentnet_e2e::webhook::webhook_binary;
use serde_json::Value;

/// Generous: the demo takes about 40 s once its prerequisites are built.
const DEMO_TIMEOUT: Duration = Duration::from_secs(600);

/// Every outcome the demo must show, by the id it reports.
const OUTCOMES: &[&str] = &[
    "injected",
    "policies_accepted",
    "certified",
    "synced",
    "tools_list_filtered",
    "get_sum_allowed",
    "echo_denied",
    "echo_rule_named",
    "py_tools_filtered",
    "py_add_allowed",
    "py_secret_denied",
    "echo_allowed_after_edit",
    "a2a_card",
    "a2a_summarize_allowed",
    "a2a_translate_denied",
    "a2a_translate_not_forwarded",
    "explain_names_rules",
    "audit_lines",
    "metrics",
    "teardown",
];

const AGENT: &str = "spiffe://cluster.local/ns/agents/sa/demo-agent";

#[test]
fn the_demo_shows_every_outcome_with_metrics_and_audit_lines() {
    let report = run_demo();
    let outcomes = report["outcomes"]
        .as_array()
        .expect("outcomes in the report");
    for id in OUTCOMES {
        let outcome = outcomes
            .iter()
            .find(|o| o["id"] == *id)
            .unwrap_or_else(|| panic!("the demo did not report outcome {id}: {outcomes:#?}"));
        assert_eq!(outcome["ok"], true, "outcome {id} failed: {outcome}");
    }
    assert_eq!(report["ok"], true);

    let counters = request_counters(report["metrics"].as_str().expect("metrics text"));
    let expected = [
        // get-sum, then echo after the live edit.
        (("tools/everything", "tools/call", "allow"), 2),
        // echo before the edit.
        (("tools/everything", "tools/call", "deny"), 1),
        // Two sessions, one before and one after the edit.
        (("tools/everything", "tools/list", "allow"), 2),
        (("tools/py-tools", "tools/call", "allow"), 1),
        (("tools/py-tools", "tools/call", "deny"), 1),
        (("tools/summarizer", "SendMessage", "allow"), 1),
        (("tools/summarizer", "SendMessage", "deny"), 1),
    ];
    for ((backend, method, decision), count) in expected {
        let key = (
            backend.to_string(),
            method.to_string(),
            decision.to_string(),
        );
        assert_eq!(
            counters.get(&key).copied(),
            Some(count),
            "agentnet_requests_total{{backend={backend}, method={method}, decision={decision}}}; all: {counters:?}"
        );
    }

    // One audit line per decision: for every counter, as many lines.
    let audit = report["audit"].as_array().expect("audit lines");
    let mut audited: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for line in audit.iter().filter(|l| l["message"] == "decision") {
        assert_eq!(
            line["source"], AGENT,
            "audit line with another source: {line}"
        );
        *audited
            .entry((
                text(line, "backend"),
                text(line, "method"),
                text(line, "decision"),
            ))
            .or_default() += 1;
        match line["decision"].as_str() {
            Some("allow") => assert!(line["rule"].is_string(), "allow without its rule: {line}"),
            Some("deny") => {
                assert!(
                    line["rule"].is_null(),
                    "a denial names no admitting rule: {line}"
                );
                assert!(line["reason"].is_string(), "deny without a reason: {line}");
            }
            _ => panic!("unexpected decision in {line}"),
        }
    }
    assert_eq!(
        audited, counters,
        "audit lines per decision against the counters"
    );

    // The denials name their policy and target.
    for (backend, target, policy) in [
        ("tools/everything", "echo", "tools/everything-tools"),
        ("tools/py-tools", "get-secret", "tools/py-tools"),
        ("tools/summarizer", "translate", "tools/summarizer-skills"),
    ] {
        assert!(
            audit.iter().any(|l| l["backend"] == backend
                && l["target"] == target
                && l["decision"] == "deny"
                && l["policy"] == policy),
            "no audit line denying {target} on {backend} by {policy}"
        );
    }
    let explain = report["explain"].as_str().unwrap_or_default();
    assert!(
        explain.contains("DENY") && explain.contains("tools/summarizer-skills"),
        "{explain}"
    );
    let transcript = report["transcript"].as_str().unwrap_or_default();
    assert!(
        transcript.contains("agentnet demo: every expected outcome happened"),
        "{transcript}"
    );
}

/// Runs hack/demo.sh with the binaries this test run uses; returns its JSON report.
fn run_demo() -> Value {
    let sidecar = sidecar_binary().unwrap();
    let webhook = webhook_binary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let output = dir.path().join("demo.out");
    let mut child = Command::new(repo_root().join("hack/demo.sh"))
        .env("AGENTNET_DEMO_REPORT", &report)
        .env("AGENTNET_SIDECAR_BIN", sidecar)
        .env("AGENTNET_WEBHOOK_BIN", webhook)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&output).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + DEMO_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            // SIGKILL: the demo's reaper still stops its processes and control plane.
            let _ = child.kill();
            let _ = child.wait();
            panic!("hack/demo.sh did not finish within {DEMO_TIMEOUT:?}");
        }
        sleep(Duration::from_millis(200));
    };
    let transcript = std::fs::read_to_string(&output).unwrap_or_default();
    assert!(
        status.success(),
        "hack/demo.sh failed ({status}):\n{transcript}"
    );
    let report = std::fs::read_to_string(&report).unwrap();
    serde_json::from_str(&report).unwrap()
}

/// `agentnet_requests_total` samples by (backend, method, decision).
fn request_counters(metrics: &str) -> BTreeMap<(String, String, String), u64> {
    let mut counters = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("agentnet_requests_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").unwrap();
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or_else(|| panic!("no label {name} in {line}"))
                .to_string()
        };
        let value: u64 = value.trim().parse().unwrap();
        if value > 0 {
            counters.insert(
                (label("backend"), label("method"), label("decision")),
                value,
            );
        }
    }
    counters
}

fn text(line: &Value, key: &str) -> String {
    line[key].as_str().unwrap_or_default().to_string()
}
