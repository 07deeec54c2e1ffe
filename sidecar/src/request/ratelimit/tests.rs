use std::time::{Duration, Instant};

use agentnet_policy::{
    BackendRef, HttpRequest, McpMessage, Message, Request, Settings, Source, compile,
};

use super::*;
use crate::policy_source::manifest::{parse, snapshot};

const POLICY: &str = r#"
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {name: mcp, namespace: tools}
spec: {mcp: {hostname: example.com, port: 443}}
---
apiVersion: agentnet.dev/v1alpha1
kind: RateLimitPolicy
metadata: {name: rl, namespace: tools}
spec:
  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]
  limits:
  - name: per-tool
    mcp: {methods: [tools/call]}
    keyBy: [Source, Tool]
    requests: 2
    period: 1s
"#;

fn limits() -> Vec<Arc<RateLimit>> {
    let index = compile(&snapshot(parse(POLICY).unwrap()), &Settings::default());
    index
        .backend("tools", "mcp")
        .unwrap()
        .rate_limits()
        .to_vec()
}

fn call(who: &str, tool: &str) -> Request {
    let http = HttpRequest::new("POST", "/mcp", "example.com:443", 443).unwrap();
    let source = Source::service_account("cluster.local", "agents", who).unwrap();
    let message = Message::Mcp(McpMessage::tool_call(tool));
    Request::new(source, BackendRef::new("tools", "mcp"), http, message)
}

#[test]
fn each_caller_and_tool_has_its_own_bucket_which_refills_over_the_period() {
    let (limits, limiter, t0) = (
        limits(),
        RateLimiter::new(100, GlobalStore::new(None).unwrap()),
        Instant::now(),
    );
    let a = call("a", "add");
    assert!(limiter.check_at(&limits, &a, t0).is_ok());
    assert!(limiter.check_at(&limits, &a, t0).is_ok());
    let refused = limiter.check_at(&limits, &a, t0).unwrap_err();
    assert_eq!(refused.limit, "tools/rl/per-tool");
    assert_eq!(refused.retry_after, Duration::from_millis(500));
    assert!(
        limiter.check_at(&limits, &call("a", "echo"), t0).is_ok(),
        "another tool"
    );
    assert!(
        limiter.check_at(&limits, &call("b", "add"), t0).is_ok(),
        "another caller"
    );
    let list = Request {
        message: Message::Mcp(McpMessage::new("tools/list")),
        ..a.clone()
    };
    assert!(
        limiter.check_at(&limits, &list, t0).is_ok(),
        "other methods do not count"
    );
    assert!(
        limiter
            .check_at(&limits, &a, t0 + Duration::from_millis(500))
            .is_ok()
    );
    assert!(
        limiter
            .check_at(&limits, &a, t0 + Duration::from_millis(500))
            .is_err()
    );
}

#[test]
fn memory_is_bounded_by_dropping_refilled_then_least_recent_buckets() {
    let (limits, limiter, t0) = (
        limits(),
        RateLimiter::new(3, GlobalStore::new(None).unwrap()),
        Instant::now(),
    );
    for (i, tool) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        let at = t0 + Duration::from_millis(i as u64);
        assert!(limiter.check_at(&limits, &call("x", tool), at).is_ok());
        assert!(limiter.len() <= 3, "{}", limiter.len());
    }
    // Long after, every bucket has refilled: all are dropped for the new one.
    let later = t0 + Duration::from_secs(10);
    assert!(limiter.check_at(&limits, &call("x", "f"), later).is_ok());
    assert_eq!(limiter.len(), 1);
}
