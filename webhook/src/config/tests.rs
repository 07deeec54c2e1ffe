use clap::Parser;

use super::*;

fn parse(extra: &[&str]) -> Result<Config, clap::Error> {
    let mut args = vec![
        "agentnet-webhook",
        "--namespace=ns",
        "--sidecar-image=img:1",
    ];
    args.extend_from_slice(extra);
    Config::try_parse_from(args)
}

#[test]
fn minimal_flags_give_documented_defaults() {
    let config = parse(&[]).unwrap();
    config.validate().unwrap();
    assert_eq!(config.listen_addr.port(), 8443);
    assert_eq!(config.metrics_addr.port(), 9090);
    assert_eq!(config.serving.tls_mode, TlsMode::SelfSigned);
    assert_eq!(config.sidecar.cert_lifetime, Duration::from_secs(3600));
    assert_eq!(config.sidecar.outbound_default, DefaultAction::Allow);
    assert_eq!(
        config.sidecar.proxy_cpu_request, None,
        "the chart, not the binary, sets resources"
    );
    assert_eq!(
        config.identity_url(),
        "https://agentnet-webhook.ns.svc:8444"
    );
    assert_eq!(config.conversion_crds(), vec![XACCESSPOLICY_CRD.to_owned()]);
}

#[test]
fn namespace_and_sidecar_image_are_required() {
    let err = Config::try_parse_from(["agentnet-webhook", "--sidecar-image=img"]).unwrap_err();
    assert!(err.to_string().contains("--namespace"), "{err}");
    let err = Config::try_parse_from(["agentnet-webhook", "--namespace=ns"]).unwrap_err();
    assert!(err.to_string().contains("--sidecar-image"), "{err}");
}

#[test]
fn conversion_management_can_be_turned_off() {
    let config = parse(&["--manage-crd-conversion=false"]).unwrap();
    assert!(config.conversion_crds().is_empty());
}

#[test]
fn webhook_url_must_be_https_without_query() {
    let ok = parse(&["--webhook-url=https://127.0.0.1:9443"]).unwrap();
    assert_eq!(ok.serving.webhook_url.unwrap().host(), Some("127.0.0.1"));
    for bad in ["http://127.0.0.1:9443", "https://h/?a=b", "not a url"] {
        let err = parse(&[&format!("--webhook-url={bad}")]).unwrap_err();
        assert!(err.to_string().contains("--webhook-url"), "{bad}: {err}");
    }
}

#[test]
fn rejects_bad_values_with_the_flag_name() {
    for (flag, needle) in [
        ("--proxy-cpu-request=lots", "--proxy-cpu-request"),
        ("--sidecar-log-level=verbose", "--sidecar-log-level"),
        ("--cert-lifetime=48h", "--cert-lifetime"),
        ("--token-expiration=5m", "10m"),
        ("--outbound-default=maybe", "--outbound-default"),
        ("--sidecar-uid=0", "--sidecar-uid"),
    ] {
        let err = parse(&[flag]).unwrap_err();
        assert!(err.to_string().contains(needle), "{flag}: {err}");
    }
}

#[test]
fn validate_rejects_a_request_above_its_limit() {
    let config = parse(&["--proxy-memory-request=256Mi", "--proxy-memory-limit=128Mi"]).unwrap();
    let err = config.validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "--proxy-memory-request 256Mi exceeds --proxy-memory-limit 128Mi"
    );
}

#[test]
fn list_flags_take_commas() {
    let config = parse(&[
        "--sidecar-arg=--log=info,agentnet=debug",
        "--sidecar-arg=--outbound-default=deny",
        "--sidecar-arg=[\"--otlp-endpoint=http://collector:4317\", \"--x=a,b\"]",
        "--excluded-namespaces=x,y",
        "--tls-extra-sans=1.2.3.4,h",
    ])
    .unwrap();
    // Sidecar arguments are never split on commas; a JSON array (the chart's
    // AGENTNET_SIDECAR_ARGS) gives several.
    assert_eq!(
        config.sidecar.args(),
        [
            "--log=info,agentnet=debug",
            "--outbound-default=deny",
            "--otlp-endpoint=http://collector:4317",
            "--x=a,b"
        ]
    );
    assert!(parse(&["--sidecar-arg=[1, 2]"]).is_err(), "not strings");
    assert_eq!(config.excluded_namespaces, ["x", "y"]);
    assert_eq!(config.serving.tls_extra_sans, ["1.2.3.4", "h"]);
}

#[test]
fn status_controller_is_on_by_default_and_can_be_turned_off() {
    let config = parse(&[]).unwrap();
    assert!(config.status.enabled);
    assert_eq!(
        config.status.controller_name,
        "agentnet.dev/policy-controller"
    );
    assert_eq!(config.status.lease_duration, Duration::from_secs(15));
    let config = parse(&["--status-controller=false"]).unwrap();
    assert!(!config.status.enabled);
}

#[test]
fn validate_rejects_lease_timings_out_of_order_and_bad_controller_names() {
    let config = parse(&["--status-renew-deadline=20s"]).unwrap();
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("--status-renew-deadline"), "{err}");
    let config = parse(&["--status-retry-period=10s"]).unwrap();
    assert!(config.validate().is_err());
    for bad in ["no-slash", "Example.com/x", "example.com/", "-a.com/x"] {
        let config = parse(&[&format!("--status-controller-name={bad}")]).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains(bad), "{bad}: {err}");
    }
    let config = parse(&["--status-controller-name=example.com/gateway-controller"]).unwrap();
    config.validate().unwrap();
}
