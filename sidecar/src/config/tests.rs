use clap::Parser;

use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("agentnet-sidecar").chain(args.iter().copied()))
}

fn run(args: &[&str]) -> Config {
    parse(args).unwrap().run
}

#[test]
fn defaults_follow_the_contract() {
    let c = run(&[]);
    assert_eq!(c.outbound_addr, "127.0.0.1:15001".parse().unwrap());
    assert_eq!(c.admin_addr, "127.0.0.1:15000".parse().unwrap());
    assert_eq!(
        (c.outbound_default, c.backend_default),
        (OutboundDefault::Allow, BackendDefault::Allow)
    );
    assert_eq!(
        (c.limits.max_body_bytes, c.drain_timeout),
        (1024 * 1024, Duration::from_secs(20))
    );
    assert!(c.log.audit && c.excluded_ports().is_empty());
    assert_eq!(c.source().unwrap(), Source::anonymous());
}

#[test]
fn reads_typed_flags() {
    let c = run(&[
        "--outbound-default",
        "deny",
        "--backend-default",
        "deny",
        "--exclude-outbound-ports",
        "5432,6379",
        "--max-body-bytes",
        "10",
        "--drain-timeout",
        "2s",
        "--audit",
        "false",
    ]);
    assert_eq!(
        (c.outbound_default, c.backend_default),
        (OutboundDefault::Deny, BackendDefault::Deny)
    );
    assert_eq!(c.excluded_ports(), [5432, 6379]);
    assert_eq!(
        (c.limits.max_body_bytes, c.drain_timeout, c.log.audit),
        (10, Duration::from_secs(2), false)
    );
    // The webhook passes an empty list as "".
    assert!(
        run(&["--exclude-outbound-ports", ""])
            .excluded_ports()
            .is_empty()
    );
}

#[test]
fn rejects_bad_values_with_the_flag_named() {
    for args in [
        &["--exclude-outbound-ports", "0"][..],
        &["--backend-default", "maybe"],
        &["--drain-timeout", "soon"],
        &["--outbound-addr", "nowhere"],
    ] {
        let err = parse(args).unwrap_err().to_string();
        assert!(err.contains(args[0]), "{args:?}: {err}");
    }
}

#[test]
fn derives_the_source_from_the_identity_flags() {
    let c = run(&[
        "--namespace",
        "agents",
        "--service-account",
        "planner",
        "--trust-domain",
        "example.org",
    ]);
    assert_eq!(
        c.source().unwrap().spiffe_id(),
        Some("spiffe://example.org/ns/agents/sa/planner")
    );
    let c = run(&[
        "--spiffe-id",
        "spiffe://td/x",
        "--namespace",
        "agents",
        "--service-account",
        "planner",
    ]);
    assert_eq!(c.source().unwrap().spiffe_id(), Some("spiffe://td/x"));
    assert!(matches!(
        run(&["--spiffe-id", "http://x"]).validate(),
        Err(ConfigError::SpiffeId(_))
    ));
    assert!(matches!(
        run(&["--service-account", "planner"]).validate(),
        Err(ConfigError::ServiceAccountWithoutNamespace)
    ));
}

#[test]
fn validates_cross_field_rules() {
    let same = run(&[
        "--outbound-addr",
        "127.0.0.1:9000",
        "--admin-addr",
        "127.0.0.1:9000",
    ]);
    assert!(matches!(same.validate(), Err(ConfigError::SameAddress(_))));
    assert!(matches!(
        run(&["--max-list-bytes", "0"]).validate(),
        Err(ConfigError::ZeroLimit)
    ));
    assert!(matches!(
        run(&["--config-dir", "/nonexistent/agentnet"]).validate(),
        Err(ConfigError::ConfigDir(_))
    ));
    assert!(run(&["--config-dir", "/tmp"]).validate().is_ok());
}

#[test]
fn explain_is_a_subcommand_with_its_own_flags() {
    let cli = parse(&[
        "explain",
        "--backend",
        "tools/mcp",
        "--tool",
        "add",
        "--json",
    ])
    .unwrap();
    let Some(Command::Explain(args)) = cli.command else {
        panic!("not explain")
    };
    assert_eq!(
        (
            args.query.backend.as_str(),
            args.query.tool.as_deref(),
            args.json
        ),
        ("tools/mcp", Some("add"), true)
    );
}

#[test]
fn credentials_in_urls_never_show() {
    let cli = Cli::try_parse_from([
        "agentnet-sidecar",
        "--rate-limit-redis-url",
        "redis://:hunter2@cache:6379/0",
        "--otlp-endpoint",
        "http://user:s3cret@otel:4317",
    ])
    .unwrap();
    let shown = serde_json::to_string(&cli.run).unwrap();
    let debug = format!("{:?}", cli.run);
    for text in [&shown, &debug] {
        assert!(
            !text.contains("hunter2") && !text.contains("s3cret"),
            "{text}"
        );
    }
    assert!(shown.contains("redis://***@cache:6379/0"), "{shown}");
    let redis = cli.run.extensions.rate_limit_redis_url.unwrap();
    assert_eq!(redis.expose(), "redis://:hunter2@cache:6379/0");
    let plain = super::SecretUrl("http://otel:4317/v1?a@b".into());
    assert_eq!(
        plain.redacted(),
        "http://otel:4317/v1?a@b",
        "an @ after the host is no userinfo"
    );
}
