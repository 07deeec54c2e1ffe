//! The control plane's policy service (`GET /v1/policy/view` on the shared local
//! webhook's identity listener) against the real API server, with real TokenRequest
//! tokens: each identity's view holds only what that identity needs, a request for
//! another identity's view is refused, and policy, deletion and endpoint changes reach
//! the stream while changes nobody's view depends on do not. Fault tests: a sidecar
//! keeps its last view and readiness while its replica is killed, and while the API
//! server is killed (on a private control plane); changes made meanwhile or right after
//! reach it once the replica or API server is back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use agentnet_e2e::eventually;
use agentnet_e2e::identity::{PolicyStream, token, trust_bundle};
use agentnet_e2e::sidecar::{
    PrivateControlPlane, Process, host_ip, http, start_mcp_server, start_sidecar,
};
use agentnet_e2e::webhook::{Replica, shared};
use agentnet_e2e::{TestNs, http_get, output_text};
use serde_json::Value;

use crate::sidecar::{POLICY, backend, call, expect};

const OPT_IN: (&str, &str) = ("agentnet.dev/inject", "enabled");
/// A change reaches an open stream well within this (the target is 1 s at p99).
const PROPAGATION: Duration = Duration::from_secs(5);

fn world(tool_for_alpha: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: tools}}
spec: {{ports: [{{port: 8080}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: tools-1, labels: {{kubernetes.io/service-name: tools}}}}
addressType: IPv4
ports: [{{port: 8080}}]
endpoints: [{{addresses: [10.244.9.1]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: unrelated}}
spec: {{ports: [{{port: 80}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: unrelated-1, labels: {{kubernetes.io/service-name: unrelated}}}}
addressType: IPv4
ports: [{{port: 80}}]
endpoints: [{{addresses: [10.244.9.50]}}]
---
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {{name: tools}}
spec: {{mcp: {{serviceName: tools, port: 8080}}}}
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {{name: tools}}
spec:
  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: tools}}]
  action: Allow
  rules:
  - name: alpha-rule
    source: {{type: ServiceAccount, serviceAccount: {{name: alpha}}}}
    authorization: {{type: Inline, mcp: {{methods: [{{name: tools/call, params: [{tool_for_alpha}]}}]}}}}
  - name: beta-rule
    source: {{type: ServiceAccount, serviceAccount: {{name: beta}}}}
    authorization: {{type: Inline, mcp: {{methods: [{{name: tools/call, params: [beta-only-secret]}}]}}}}
"#
    )
}

struct Setup {
    ns: TestNs,
    bundle: String,
    alpha: String,
    beta: String,
}

async fn setup(prefix: &str) -> Setup {
    shared().await.unwrap();
    let ns = TestNs::with_labels(prefix, &[OPT_IN]).await.unwrap();
    for sa in ["alpha", "beta"] {
        ns.create_service_account(sa).await.unwrap();
    }
    apply(&ns, &world("alpha-tool"));
    let bundle = trust_bundle(&ns.client, &ns.name).await.unwrap();
    let alpha = token(&ns.client, &ns.name, "alpha", "agentnet")
        .await
        .unwrap();
    let beta = token(&ns.client, &ns.name, "beta", "agentnet")
        .await
        .unwrap();
    Setup {
        ns,
        bundle,
        alpha,
        beta,
    }
}

/// Opens a stream, retrying while the service has not synced yet (503), as sidecars do.
async fn open(s: &Setup, token: Option<&str>, query: &str) -> PolicyStream {
    let webhook = shared().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stream = PolicyStream::open(webhook.identity_port, &s.bundle, token, query)
            .await
            .unwrap();
        if stream.status != 503 || Instant::now() > deadline {
            return stream;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn apply(ns: &TestNs, yaml: &str) {
    let out = ns.apply_yaml(yaml).unwrap();
    assert!(out.status.success(), "kubectl apply: {}", output_text(&out));
}

fn identity(ns: &str, sa: &str) -> String {
    format!("?identity=spiffe://cluster.local/ns/{ns}/sa/{sa}")
}

/// Opens a stream and returns it with the first view that shows everything in `want`
/// (the webhook's watches see the test's objects a moment after `kubectl apply`, and
/// not all kinds at once).
async fn stream_showing(s: &Setup, token: &str, want: &[&str]) -> (PolicyStream, Value) {
    let mut stream = open(s, Some(token), "").await;
    assert_eq!(stream.status, 200);
    let view = view_showing(&mut stream, want, Duration::from_secs(60)).await;
    (stream, view)
}

/// The first view on `stream` within `timeout` that shows everything in `want`. Other
/// tests change policy in their namespaces meanwhile, so views that do not are skipped.
async fn view_showing(stream: &mut PolicyStream, want: &[&str], timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(view) = stream.next_view(left).await.unwrap() else {
            break;
        };
        if want.iter().all(|w| view.to_string().contains(w)) {
            return view;
        }
        last = view;
    }
    panic!("no view within {timeout:?} showed {want:?}; the last: {last}")
}

fn policy_of<'v>(view: &'v Value, ns: &str) -> &'v Value {
    view["snapshot"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["metadata"]["namespace"] == ns && p["metadata"]["name"] == "tools")
        .expect("the tools policy in the view")
}

#[tokio::test]
async fn each_identity_receives_only_its_own_rules() {
    let s = setup("pv-bounds").await;
    let ns = s.ns.name.clone();
    let (_a, alpha_view) = stream_showing(&s, &s.alpha, &["alpha-tool", "10.244.9.1"]).await;
    let text = alpha_view.to_string();
    assert!(
        !text.contains("beta-only-secret"),
        "beta's rule reached alpha: {text}"
    );
    let rules = &policy_of(&alpha_view, &ns)["spec"]["rules"];
    assert_eq!(
        rules[1]["name"], "beta-rule",
        "the rule is named, not shown"
    );
    assert_eq!(
        rules[1]["source"]["spiffe"],
        "spiffe://agentnet.invalid/redacted"
    );
    let (_b, beta_view) = stream_showing(&s, &s.beta, &["beta-only-secret", "10.244.9.1"]).await;
    assert!(!beta_view.to_string().contains("alpha-tool"));
    // Services and EndpointSlices no backend names are never sent.
    for view in [&alpha_view, &beta_view] {
        let text = view.to_string();
        assert!(
            text.contains("10.244.9.1") && !text.contains("10.244.9.50"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_request_for_another_identitys_view_is_refused() {
    let s = setup("pv-forged").await;
    let ns = s.ns.name.clone();
    let forged = open(&s, Some(&s.alpha), &identity(&ns, "beta")).await;
    assert_eq!(forged.status, 403);
    let body = forged.body().await.unwrap();
    assert!(
        body.contains("forbidden") && !body.contains("beta-only-secret"),
        "{body}"
    );
    for (token, status) in [(None, 401), (Some("not-a-token"), 401)] {
        let refused = open(&s, token, "").await;
        assert_eq!(refused.status, status);
    }
    // A token for another audience (the API server's) is no agentnet identity.
    let api_token = token(&s.ns.client, &ns, "alpha", "https://kubernetes.default.svc")
        .await
        .unwrap();
    let wrong = open(&s, Some(&api_token), "").await;
    assert_eq!(wrong.status, 401);
    let own = open(&s, Some(&s.alpha), &identity(&ns, "alpha")).await;
    assert_eq!(own.status, 200);
}

#[tokio::test]
async fn policy_endpoint_and_deletion_changes_reach_the_stream_and_unrelated_ones_do_not() {
    let s = setup("pv-changes").await;
    let ns = s.ns.name.clone();
    let (mut stream, first) = stream_showing(&s, &s.alpha, &["alpha-tool", "10.244.9.1"]).await;
    // An EndpointSlice no backend uses never reaches the view. (Other tests change
    // their namespaces' policies meanwhile, which may send views; this namespace's part
    // of them must stay as it was.)
    let unrelated = world("alpha-tool").replace("10.244.9.50", "10.244.9.51");
    apply(&s.ns, &unrelated);
    let quiet_until = Instant::now() + Duration::from_secs(3);
    while let Some(view) = stream
        .next_view(quiet_until.saturating_duration_since(Instant::now()))
        .await
        .unwrap()
    {
        assert!(!view.to_string().contains("10.244.9.51"), "{view}");
        assert_eq!(policy_of(&view, &ns), policy_of(&first, &ns));
    }
    // A rule change of the caller's own: a new view, promptly.
    let started = Instant::now();
    apply(&s.ns, &world("alpha-tool-v2"));
    let changed = view_showing(&mut stream, &["alpha-tool-v2"], PROPAGATION).await;
    assert_ne!(changed["version"], first["version"]);
    eprintln!(
        "policy change reached the stream in {:?}",
        started.elapsed()
    );
    // An endpoint of the backend's Service: a new view with the address.
    let more = world("alpha-tool-v2").replace("[10.244.9.1]", "[10.244.9.1, 10.244.9.2]");
    apply(&s.ns, &more);
    view_showing(&mut stream, &["10.244.9.2"], PROPAGATION).await;
    // Deleting the policy: a view without it.
    s.ns.cluster
        .kubectl_ok(&["delete", "-n", &ns, "xaccesspolicy", "tools"])
        .unwrap();
    let deadline = Instant::now() + PROPAGATION;
    let deleted = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let view = stream.next_view(left).await.unwrap().expect("the deletion");
        let gone = view["snapshot"]["policies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["metadata"]["namespace"] != ns.as_str());
        if gone {
            break view;
        }
    };
    let policies = deleted["snapshot"]["policies"].as_array().unwrap();
    assert!(
        !policies
            .iter()
            .any(|p| p["metadata"]["namespace"] == ns.as_str())
    );
}

#[tokio::test]
async fn the_debug_listener_lists_connected_sidecars() {
    let s = setup("pv-status").await;
    let webhook = shared().await.unwrap();
    let (_stream, view) = stream_showing(&s, &s.alpha, &["alpha-tool", "10.244.9.1"]).await;
    let spiffe = format!("spiffe://cluster.local/ns/{}/sa/alpha", s.ns.name);
    let listed = http_get(
        &format!("127.0.0.1:{}", webhook.debug_port),
        "/debug/sidecars",
    )
    .await
    .unwrap();
    let sessions: Vec<Value> = serde_json::from_str(&listed).unwrap();
    let mine = sessions
        .iter()
        .find(|s| s["spiffeId"] == spiffe.as_str())
        .unwrap_or_else(|| panic!("{spiffe} not listed: {listed}"));
    // Other tests' changes may have sent it a newer view since; it holds one.
    assert!(
        mine["version"].is_string() && mine["generation"].as_u64() >= view["generation"].as_u64()
    );
}

/// A sidecar streaming from a second replica: when that replica dies the sidecar keeps
/// enforcing its last view and stays ready; a revocation made meanwhile applies once
/// the replica is back.
#[tokio::test]
async fn a_sidecar_keeps_its_view_while_its_replica_is_down_and_resyncs_when_it_returns() {
    let webhook = shared().await.unwrap();
    let ns = TestNs::with_labels("pv-fault", &[OPT_IN]).await.unwrap();
    ns.create_service_account("agent").await.unwrap();
    let ip = host_ip().unwrap();
    let (_server, port) = start_mcp_server(&["--host", &ip, "--json-response"]).unwrap();
    apply(&ns, &backend(&ns.name, &ip, port));
    let replica = webhook.replica(&format!("replica-{}", ns.name)).unwrap();
    let bundle = trust_bundle(&ns.client, &ns.name).await.unwrap();
    let agent_token = token(&ns.client, &ns.name, "agent", "agentnet")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sidecar = CpSidecar::start(
        &dir,
        &ns.name,
        (replica.identity_port(), webhook.identity_port),
        &agent_token,
        &bundle,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", replica.log_text()));
    let outbound = sidecar.outbound;
    let policy = |tool: &str| admitting(&ns.name, tool);
    apply(&ns, &policy("add"));
    expect(
        outbound,
        &ns.name,
        "get-secret",
        false,
        "the policy to deny get-secret",
    )
    .await
    .unwrap();

    replica.kill();
    sidecar.holds(&ns.name, "add", "get-secret", 6).await;
    // Revoked while the sidecar's replica is down: not seen yet, the last view holds.
    apply(&ns, &policy("mul"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(call(outbound, &ns.name, "add").await.unwrap().is_ok());

    let restarted = Instant::now();
    replica.start().unwrap();
    expect(
        outbound,
        &ns.name,
        "add",
        false,
        "the revocation once the replica is back",
    )
    .await
    .unwrap();
    let took = restarted.elapsed();
    eprintln!(
        "revocation applied {took:?} after the replica's restart (its start-up and sync included)"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    synced_on(replica.debug_port(), &ns.name).await;
}

/// A sidecar process in control-plane mode: its policy from `policy_port`, its
/// certificate from `identity_port` (both identity listeners on 127.0.0.1).
struct CpSidecar {
    _process: Process,
    outbound: SocketAddr,
    admin: SocketAddr,
    log: std::path::PathBuf,
}

impl CpSidecar {
    /// Started and ready (its first view received), or the error with its log.
    async fn start(
        dir: &tempfile::TempDir,
        ns: &str,
        (policy_port, identity_port): (u16, u16),
        token: &str,
        bundle: &str,
    ) -> anyhow::Result<Self> {
        let (token_file, bundle_file) = (dir.path().join("token"), dir.path().join("bundle.pem"));
        std::fs::write(&bundle_file, bundle)?;
        std::fs::write(&token_file, token)?;
        let policy_url = format!("https://127.0.0.1:{policy_port}");
        let identity_url = format!("https://127.0.0.1:{identity_port}");
        let paths = (token_file.to_string_lossy(), bundle_file.to_string_lossy());
        let args = [
            "--policy-url",
            &policy_url,
            "--identity-url",
            &identity_url,
            "--namespace",
            ns,
            "--service-account",
            "agent",
            "--token-file",
            &paths.0,
            "--trust-bundle-file",
            &paths.1,
            "--inbound-addr",
            "127.0.0.1:0",
            "--log",
            "info",
        ];
        let log = dir.path().join("sidecar.log");
        let (process, outbound, admin) = start_sidecar(&args, &log)?;
        let ready = || async move {
            let reply = http(admin, "GET", "/ready", "admin", "").await.ok();
            Ok(reply.filter(|r| r.status == 200))
        };
        eventually(
            "the sidecar to stream its view and be ready",
            Duration::from_secs(90),
            ready,
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "{e:#}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })?;
        Ok(Self {
            _process: process,
            outbound,
            admin,
            log,
        })
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// For `rounds` half-seconds: `denied` is refused, `allowed` answered, and the
    /// sidecar stays ready.
    async fn holds(&self, ns: &str, allowed: &str, denied: &str, rounds: usize) {
        for _ in 0..rounds {
            assert_eq!(
                call(self.outbound, ns, denied).await.unwrap(),
                Err(403),
                "the last view still denies {denied}"
            );
            assert!(
                call(self.outbound, ns, allowed).await.unwrap().is_ok(),
                "the last view still admits {allowed}"
            );
            let ready = http(self.admin, "GET", "/ready", "admin", "")
                .await
                .unwrap();
            assert_eq!(ready.status, 200, "ready on the last view: {}", ready.body);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Waits until the replica with debug listener `debug_port` lists the sidecar of
/// `<ns>/agent` as SYNCED: it acknowledged the view last sent as applied.
async fn synced_on(debug_port: u16, ns: &str) {
    let spiffe = format!("spiffe://cluster.local/ns/{ns}/sa/agent");
    let addr = format!("127.0.0.1:{debug_port}");
    eventually(
        "the sidecar to acknowledge its view",
        PROPAGATION,
        || async {
            let sessions: Vec<Value> =
                serde_json::from_str(&http_get(&addr, "/debug/sidecars").await?)?;
            Ok(sessions.into_iter().find(|s| {
                s["spiffeId"] == spiffe.as_str()
                    && s["version"].is_string()
                    && s["appliedVersion"] == s["version"]
                    && s["rejected"].is_null()
            }))
        },
    )
    .await
    .unwrap();
}

/// `POLICY` for namespace `ns`, admitting only `tool`.
fn admitting(ns: &str, tool: &str) -> String {
    POLICY
        .replace("namespace: agents", &format!("namespace: {ns}"))
        .replace("params: [add]", &format!("params: [{tool}]"))
}

/// Polls (every 50 ms, for up to 10 s) until a call of `tool` is refused; how long
/// that took.
async fn until_denied(outbound: SocketAddr, ns: &str, tool: &str) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if call(outbound, ns, tool).await.unwrap() == Err(403) {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{tool} still admitted 10 s after its revocation");
}

#[tokio::test]
async fn a_sidecar_keeps_its_view_through_an_api_server_crash_and_a_revocation_applies_within_two_seconds_of_its_return()
 {
    // A control plane of this test's own: it kills that API server.
    let cp = PrivateControlPlane::up().unwrap();
    cp.install_crds().unwrap();
    let replica = Replica::on_private(&cp, "agentnet", "agentnet-system", &[]).unwrap();
    let ns = format!("apiserver-fault-{}", std::process::id());
    let kubectl = |args: &[&str], stdin: Option<&str>| {
        cp.kubectl(args, stdin)
            .unwrap_or_else(|e| panic!("{e:#}\n{}", replica.log_text()))
    };
    kubectl(&["create", "namespace", &ns], None);
    kubectl(
        &["label", "namespace", &ns, "agentnet.dev/inject=enabled"],
        None,
    );
    kubectl(&["create", "serviceaccount", "agent", "-n", &ns], None);
    let ip = host_ip().unwrap();
    let (_server, port) = start_mcp_server(&["--host", &ip, "--json-response"]).unwrap();
    kubectl(&["apply", "-f", "-"], Some(&backend(&ns, &ip, port)));
    kubectl(
        &["apply", "-n", &ns, "-f", "-"],
        Some(&admitting(&ns, "add")),
    );
    let client = cp.client().await.unwrap();
    let bundle = trust_bundle(&client, &ns).await.unwrap();
    let agent_token = token(&client, &ns, "agent", "agentnet").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = replica.identity_port();
    let sidecar = CpSidecar::start(&dir, &ns, (port, port), &agent_token, &bundle)
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", replica.log_text()));
    expect(
        sidecar.outbound,
        &ns,
        "get-secret",
        false,
        "the policy to deny get-secret",
    )
    .await
    .unwrap();

    // Down for 10 s: long enough that a client-go style backoff (0.8 s doubling)
    // would next try the API server 13 s after it returns.
    cp.kill_apiserver().unwrap();
    sidecar.holds(&ns, "add", "get-secret", 20).await;

    cp.start_apiserver().unwrap();
    kubectl(
        &["apply", "-n", &ns, "-f", "-"],
        Some(&admitting(&ns, "mul")),
    );
    let applied = std::time::SystemTime::now();
    let took = until_denied(sidecar.outbound, &ns, "add").await;
    eprintln!("revocation enforced {took:?} after kubectl apply on the restarted API server");
    synced_on(replica.debug_port(), &ns).await;
    assert!(
        took < Duration::from_secs(2),
        "revocation took {took:?} (applied at {applied:?})\n{}\n{}",
        replica.log_text(),
        sidecar.log_text()
    );
}

#[tokio::test]
async fn programmed_turns_true_once_the_sidecars_a_policy_applies_to_acknowledge_its_generation() {
    let webhook = shared().await.unwrap();
    let ns = TestNs::with_labels("pv-programmed", &[OPT_IN])
        .await
        .unwrap();
    ns.create_service_account("agent").await.unwrap();
    let ip = host_ip().unwrap();
    let (_server, port) = start_mcp_server(&["--host", &ip, "--json-response"]).unwrap();
    apply(&ns, &backend(&ns.name, &ip, port));
    apply(&ns, &admitting(&ns.name, "add"));
    // No sidecar it applies to is connected: nothing to wait for.
    programmed(&ns, "True", "Programmed", 1).await;

    // A stream that never acknowledges (a sidecar too old to, or stuck): pending.
    let bundle = trust_bundle(&ns.client, &ns.name).await.unwrap();
    let agent = token(&ns.client, &ns.name, "agent", "agentnet")
        .await
        .unwrap();
    let query = identity(&ns.name, "agent");
    let mut silent = PolicyStream::open(webhook.identity_port, &bundle, Some(&agent), &query)
        .await
        .unwrap();
    assert_eq!(silent.status, 200);
    view_showing(&mut silent, &["add-only"], Duration::from_secs(30)).await;
    programmed(&ns, "False", "Pending", 1).await;
    drop(silent);

    // A real sidecar acknowledges what it applied.
    let dir = tempfile::tempdir().unwrap();
    let port = webhook.identity_port;
    let sidecar = CpSidecar::start(&dir, &ns.name, (port, port), &agent, &bundle)
        .await
        .unwrap();
    programmed(&ns, "True", "Programmed", 1).await;
    // A new generation is programmed once the sidecar holds it: it is enforced then.
    apply(&ns, &admitting(&ns.name, "mul"));
    programmed(&ns, "True", "Programmed", 2).await;
    assert_eq!(
        call(sidecar.outbound, &ns.name, "add").await.unwrap(),
        Err(403),
        "Programmed, so in force\n{}",
        sidecar.log_text()
    );
}

/// Waits until policy `add-only`'s `Programmed` condition (on our ancestor) has
/// `status` and `reason` for `generation`.
async fn programmed(ns: &TestNs, status: &str, reason: &str, generation: i64) {
    let what = format!("Programmed={status} {reason} for generation {generation}");
    eventually(&what, Duration::from_secs(60), || async {
        let out = ns.cluster.kubectl_ok(&[
            "get",
            "-n",
            &ns.name,
            "xaccesspolicy",
            "add-only",
            "-o",
            "json",
        ])?;
        let policy: Value = serde_json::from_str(&out)?;
        let ancestors = policy["status"]["ancestors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let found = ancestors
            .iter()
            .filter(|a| a["controllerName"] == "agentnet.dev/policy-controller")
            .flat_map(|a| a["conditions"].as_array().cloned().unwrap_or_default())
            .find(|c| {
                c["type"] == "Programmed"
                    && c["status"] == status
                    && c["reason"] == reason
                    && c["observedGeneration"] == generation
            });
        Ok(found)
    })
    .await
    .unwrap();
}
