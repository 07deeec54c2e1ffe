use super::*;

#[test]
fn a_rate_limit_policy_reads_from_yaml() {
    let yaml = r#"
apiVersion: agentnet.dev/v1alpha1
kind: RateLimitPolicy
metadata: {name: rl, namespace: tools}
spec:
  targetRefs: [{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}]
  limits:
  - name: per-tool
    source: {type: ServiceAccount, serviceAccount: {name: agent}}
    mcp: {methods: [tools/call], tools: [add]}
    keyBy: [Source, Tool]
    requests: 5
    period: 1s
    burst: 10
"#;
    let p: RateLimitPolicy = serde_yaml::from_str(yaml).unwrap();
    let limit = &p.spec.limits[0];
    assert_eq!(
        (limit.requests, limit.period.as_str(), limit.burst),
        (5, "1s", Some(10))
    );
    assert_eq!(
        limit.key_by.as_deref(),
        Some(&[LimitKey::Source, LimitKey::Tool][..])
    );
    assert_eq!(
        limit.mcp.as_ref().unwrap().tools.as_ref().unwrap()[0].0,
        "add"
    );
}

#[test]
fn the_period_pattern_takes_go_style_durations() {
    let re = regex::Regex::new(PERIOD_PATTERN).unwrap();
    for ok in ["1s", "500ms", "1m30s", "2h"] {
        assert!(re.is_match(ok), "{ok}");
    }
    for bad in ["", "1", "s", "1.5s", "1d", "-1s"] {
        assert!(!re.is_match(bad), "{bad}");
    }
}
