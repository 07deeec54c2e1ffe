use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

use super::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture(f: impl FnOnce()) -> Vec<Value> {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::registry().with(crate::telemetry::audit_layer(move || writer.clone()));
    tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn emits_exactly_one_flat_json_line_per_request() {
    let metrics = Arc::new(Metrics::new());
    let lines = capture(|| {
        let mut r = Record::new(
            "spiffe://cluster.local/ns/a/sa/b".into(),
            metrics.clone(),
            true,
        );
        r.backend = Some("tools/mcp".into());
        r.protocol = "mcp";
        r.method = Some("tools/call".into());
        r.target = Some("get-secret".into());
        r.denied(None, None, "no rule admits tool get-secret".into());
        r.status = Some(200);
        r.generation = 3;
        tracing::info!("not an audit line");
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    for (field, want) in [
        ("source", "spiffe://cluster.local/ns/a/sa/b"),
        ("backend", "tools/mcp"),
        ("protocol", "mcp"),
        ("method", "tools/call"),
        ("target", "get-secret"),
        ("decision", "deny"),
        ("reason", "no rule admits tool get-secret"),
    ] {
        assert_eq!(line[field], want, "{field} in {line}");
    }
    assert_eq!(
        (line["status"].as_u64(), line["generation"].as_u64()),
        (Some(200), Some(3))
    );
    assert!(line["time"].as_str().unwrap().ends_with('Z') && line["latency_ms"].is_number());
    let text = metrics
        .encode(&crate::policy_source::PolicyState::new(&Default::default()))
        .unwrap();
    assert!(text.contains(r#"agentnet_requests_total{backend="tools/mcp",protocol="mcp",method="tools/call",decision="deny"} 1"#));
}

#[test]
fn a_record_dropped_before_a_decision_is_a_reject_and_can_be_silenced() {
    let metrics = Arc::new(Metrics::new());
    let lines = capture(|| {
        drop(Record::new(
            "an anonymous caller".into(),
            metrics.clone(),
            true,
        ));
        drop(Record::new("quiet".into(), metrics.clone(), false));
    });
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["decision"], "reject");
    let text = metrics
        .encode(&crate::policy_source::PolicyState::new(&Default::default()))
        .unwrap();
    assert!(
        text.contains(r#"decision="reject"} 2"#),
        "both count in metrics: {text}"
    );
}

#[test]
fn audit_lines_carry_the_callers_trace_id_and_a_digest_of_the_session_never_the_id() {
    let metrics = Arc::new(Metrics::new());
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    headers.insert("mcp-session-id", "secret-session-1".parse().unwrap());
    let lines = capture(|| {
        let mut r = Record::new("caller".into(), metrics.clone(), true);
        r.correlate(&headers);
        r.decision = Some("allow");
        drop(r);
        let mut other = Record::new("caller".into(), metrics.clone(), true);
        other.correlate(&HeaderMap::new());
        other.decision = Some("allow");
    });
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let session = lines[0]["session"].as_str().unwrap();
    assert_eq!(session.len(), 16);
    assert!(session.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        session,
        session_digest("secret-session-1"),
        "stable per session"
    );
    assert!(
        !lines[0].to_string().contains("secret-session-1"),
        "{}",
        lines[0]
    );
    assert!(lines[1]["trace_id"].is_null() && lines[1]["session"].is_null());
}
