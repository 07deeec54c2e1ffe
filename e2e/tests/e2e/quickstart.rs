//! The README's first command, `hack/demo.sh`, as a test: the demo's own code
//! (`agentnet_e2e::demo`) on this suite's real node, with agentnet installed from its
//! images by Helm: an agent Pod with its injected sidecar, real MCP servers
//! (server-everything, the Python SDK) and an a2a-sdk agent, calls from inside the Pod,
//! a live policy edit, `explain` and teardown. Every typed outcome the demo defines must
//! be reported and hold; then the sidecar's metrics counters and its audit line for every
//! decision are checked against each other.

use std::collections::BTreeMap;

use agentnet_e2e::demo::{self, Demo, Outcome, Transcript};
use agentnet_e2e::node;
use serde_json::Value;

const AGENT: &str = "spiffe://cluster.local/ns/agents/sa/demo-agent";

#[tokio::test]
async fn the_demo_shows_every_outcome_with_metrics_and_audit_lines() {
    let cp = node::node();
    let install = node::install().await.unwrap();
    // The demo's namespaces are its own; the install must stay up meanwhile.
    let _shared = node::shared().await;
    let mut demo = Demo::new(cp, install, Transcript::new());
    let report = demo::run(&mut demo).await;
    for outcome in Outcome::ALL {
        let checked = report
            .outcomes
            .iter()
            .find(|c| c.outcome == outcome)
            .unwrap_or_else(|| {
                panic!(
                    "the demo did not report {outcome:?}:\n{}",
                    report.transcript
                )
            });
        assert!(
            checked.ok,
            "{outcome:?} failed: {}\n{}",
            checked.detail, report.transcript
        );
    }
    assert!(report.ok);
    assert!(report.sidecar_rss_kb.0 > 0 && report.sidecar_rss_kb.1 > 0);

    let counters = request_counters(&report.metrics);
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
    let mut audited: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for line in &report.audit {
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
            report.audit.iter().any(|l| l["backend"] == backend
                && l["target"] == target
                && l["decision"] == "deny"
                && l["policy"] == policy),
            "no audit line denying {target} on {backend} by {policy}"
        );
    }
    assert!(
        report.explain.contains("DENY") && report.explain.contains("tools/summarizer-skills"),
        "{}",
        report.explain
    );
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
