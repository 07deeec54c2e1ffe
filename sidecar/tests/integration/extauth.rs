//! ExternalAuth against a real authorizer: OPA with its Envoy ext_authz plugin, built
//! by `hack/authz.sh` from the Go module proxy, running `hack/opa-envoy/authz.rego`
//! (tools/call only for arguments in an allow-list). gRPC mode talks to OPA-Envoy
//! directly; HTTP mode to `hack/opa-envoy/http_authz.py`, which puts OPA's REST API
//! behind Envoy's HTTP ext_authz protocol (OPA-Envoy speaks only gRPC).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common::eventually;
use crate::common::manifests::service_backend;
use crate::common::peers::{Peer, err, mcp_client, ok, repo_root};
use crate::common::sidecar::{Sidecar, SidecarProcess};

const ALLOWED: &str = r#"call:echo:{"text":"kubernetes-sigs/gateway-api"}"#;
const REFUSED: &str = r#"call:echo:{"text":"evil/repo"}"#;

/// The opa-envoy binary, built once per test process.
fn opa_envoy() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = std::process::Command::new(repo_root().join("hack/authz.sh"))
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "hack/authz.sh failed");
        PathBuf::from(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .last()
                .unwrap()
                .trim(),
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// OPA-Envoy serving the test policy: gRPC ext_authz on `grpc`, OPA's REST API on `rest`.
struct Opa {
    grpc: u16,
    rest: u16,
    _child: Child,
}

impl Opa {
    async fn start() -> Opa {
        let (grpc, rest) = (free_port(), free_port());
        let child = Command::new(opa_envoy())
            .args(["run", "--server", "--addr", &format!("127.0.0.1:{rest}")])
            .args([
                "--set",
                &format!("plugins.envoy_ext_authz_grpc.addr=127.0.0.1:{grpc}"),
            ])
            .args([
                "--set",
                "plugins.envoy_ext_authz_grpc.path=agentnet/authz/allow",
            ])
            .args([
                "--set",
                "decision_logs.console=false",
                "--log-level",
                "error",
            ])
            .arg(repo_root().join("hack/opa-envoy/authz.rego"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        for port in [grpc, rest] {
            eventually(
                "OPA-Envoy to listen",
                Duration::from_secs(30),
                || async move {
                    tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .ok()
                },
            )
            .await;
        }
        Opa {
            grpc,
            rest,
            _child: child,
        }
    }
}

/// `hack/opa-envoy/http_authz.py` in front of `opa`'s REST API.
async fn http_adapter(opa: &Opa) -> (u16, Child) {
    let mut child = Command::new("python3")
        .arg(repo_root().join("hack/opa-envoy/http_authz.py"))
        .args([
            &format!("http://127.0.0.1:{}", opa.rest),
            "agentnet/authz/allow",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    (line.strip_prefix("PORT ").unwrap().parse().unwrap(), child)
}

/// Service `<ns>/authz` on port 9191 whose one endpoint is 127.0.0.1:`target`.
fn authz_service(ns: &str, target: u16) -> String {
    format!(
        "\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: authz, namespace: {ns}}}\nspec: {{ports: [{{port: 9191, name: authz}}]}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: authz-1, namespace: {ns}, labels: {{kubernetes.io/service-name: authz}}}}\naddressType: IPv4\nendpoints: [{{addresses: [127.0.0.1]}}]\nports: [{{name: authz, port: {target}}}]\n"
    )
}

/// An ExternalAuth XAccessPolicy on tools/mcp; `rules` is YAML for `spec.rules` or "".
fn ext_policy(external_auth: &str, rules: &str) -> String {
    format!(
        "\n---\napiVersion: agentic.networking.x-k8s.io/v1alpha1\nkind: XAccessPolicy\nmetadata: {{name: ext, namespace: tools}}\nspec:\n  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp}}]\n  action: ExternalAuth\n  externalAuth: {external_auth}\n{rules}"
    )
}

const GRPC: &str = "{protocol: GRPC, backendRef: {name: authz, port: 9191}, grpc: {}}";

async fn echo_calls(sidecar_proxy: &str) -> Value {
    let ops = ["list-tools", ALLOWED, REFUSED];
    mcp_client(
        "http://mcp.tools:8080/mcp",
        "2026-07-28",
        Some(sidecar_proxy),
        &ops,
    )
    .await
}

fn assert_argument_policy_enforced(out: &Value) {
    assert!(
        ok(out, 0)["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("echo")),
        "{out}"
    );
    assert_eq!(ok(out, 1)["text"], json!(["kubernetes-sigs/gateway-api"]));
    let denied = err(out, 2);
    assert_eq!(
        (denied["code"].as_i64(), denied["message"].as_str()),
        (Some(403), Some("Access to this tool is forbidden.")),
        "{out}"
    );
    assert_eq!(denied["data"]["policy"], "tools/ext");
}

#[tokio::test]
async fn grpc_external_auth_with_opa_envoy_decides_on_tool_arguments() {
    let (opa, server) = tokio::join!(Opa::start(), Peer::python("mcp_server.py", &[]));
    let manifests = service_backend("mcp", "tools", "mcp", 8080, server.port)
        + &authz_service("tools", opa.grpc)
        + &ext_policy(GRPC, "");
    let sidecar = Sidecar::start(&manifests, &[]).await;
    let out = echo_calls(&sidecar.proxy_url()).await;
    assert_argument_policy_enforced(&out);
    assert!(
        err(&out, 2)["data"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("ExternalAuth denied")
    );
    let metrics = sidecar.metrics().await;
    assert!(
        metrics.contains(
            r#"agentnet_external_auth_checks_total{backend="tools/mcp",outcome="denied"} 1"#
        ),
        "{metrics}"
    );
    sidecar.stop().await;
}

#[tokio::test]
async fn http_external_auth_follows_the_gateway_api_filter() {
    let (opa, server) = tokio::join!(Opa::start(), Peer::python("mcp_server.py", &[]));
    let (adapter, _adapter) = http_adapter(&opa).await;
    let http = "{protocol: HTTP, backendRef: {name: authz, port: 9191}, http: {path: /authz, allowedResponseHeaders: [x-authz-decision]}, forwardBody: {maxSize: 8192}}";
    let manifests = service_backend("mcp", "tools", "mcp", 8080, server.port)
        + &authz_service("tools", adapter)
        + &ext_policy(http, "");
    let sidecar = Sidecar::start(&manifests, &[]).await;
    let out = echo_calls(&sidecar.proxy_url()).await;
    assert_argument_policy_enforced(&out);
    let authorizer = &err(&out, 2)["data"]["authorizer"];
    assert_eq!(
        (
            authorizer["status"].as_i64(),
            authorizer["message"].as_str()
        ),
        (Some(403), Some("denied by OPA policy agentnet/authz/allow")),
        "the authorizer's own status and message reach the caller"
    );
    sidecar.stop().await;
}

#[tokio::test]
async fn a_cross_namespace_authorizer_needs_a_reference_grant() {
    let (opa, server) = tokio::join!(Opa::start(), Peer::python("mcp_server.py", &[]));
    let remote =
        "{protocol: GRPC, backendRef: {name: authz, namespace: security, port: 9191}, grpc: {}}";
    let base = service_backend("mcp", "tools", "mcp", 8080, server.port)
        + &authz_service("security", opa.grpc)
        + &ext_policy(remote, "");
    let sidecar = Sidecar::start(&base, &[]).await;
    let out = echo_calls(&sidecar.proxy_url()).await;
    let denied = err(&out, 0);
    assert!(
        denied["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("no ReferenceGrant in security allows XAccessPolicies from tools"),
        "fails closed without a grant: {out}"
    );
    let grant = "\n---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: authz, namespace: security}\nspec:\n  from: [{group: agentic.networking.x-k8s.io, kind: XAccessPolicy, namespace: tools}]\n  to: [{group: '', kind: Service, name: authz}]\n";
    sidecar.rewrite(&(base + grant)).await;
    // Bounded: a directory reload may take a poll or two to settle on the new file.
    let proxy = sidecar.proxy_url();
    let out = eventually("the grant to take effect", Duration::from_secs(30), || {
        let proxy = proxy.clone();
        async move {
            let out = echo_calls(&proxy).await;
            (out["results"][1]["ok"] == true).then_some(out)
        }
    })
    .await;
    assert_argument_policy_enforced(&out);
    sidecar.stop().await;
}

#[tokio::test]
async fn an_unreachable_authorizer_denies_what_its_rules_cover_and_the_audit_says_why() {
    let server = Peer::python("mcp_server.py", &[]).await;
    let dead = free_port();
    let rules = "  rules:\n  - name: tool-calls\n    authorization: {type: Inline, mcp: {mcpBaseProtocolMethodsOption: SKIP_BASE_PROTOCOL_METHODS, methods: [{name: tools/call}]}}\n";
    let manifests = service_backend("mcp", "tools", "mcp", 8080, server.port)
        + &authz_service("tools", dead)
        + &ext_policy(GRPC, rules);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), manifests).unwrap();
    let mut sidecar = SidecarProcess::start(dir.path(), &["--extauth-timeout", "2s"]).await;
    let proxy = format!("http://{}", sidecar.outbound);
    let out = echo_calls(&proxy).await;
    assert!(
        ok(&out, 0)["tools"].is_array(),
        "tools/list is not covered by the rule: {out}"
    );
    let denied = err(&out, 1);
    assert_eq!(denied["code"], 403);
    assert_eq!(denied["data"]["rule"], "tool-calls");
    let read = async {
        loop {
            let line = sidecar
                .stdout
                .next_line()
                .await
                .unwrap()
                .expect("audit stream ended");
            let record: Value = serde_json::from_str(&line).unwrap_or_default();
            if record["method"] == "tools/call" {
                return record;
            }
        }
    };
    let audit = tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("no audit line for the tools/call");
    assert_eq!(audit["decision"], "deny");
    assert_eq!(
        audit["reason"], "ExternalAuth unreachable: connection refused",
        "{audit}"
    );
    assert_eq!(
        (audit["policy"].as_str(), audit["rule"].as_str()),
        (Some("tools/ext"), Some("tool-calls"))
    );
}
