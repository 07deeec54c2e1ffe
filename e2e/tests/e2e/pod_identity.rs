//! Workload identity in real pods: the projected token and the trust bundle the kubelet
//! mounts into the sidecar (and rotates), and an identity-service outage for one pod
//! (its network cut from the node with iptables in the pod's namespace): the old
//! certificate serves until it expires, then mTLS fails closed, and a new certificate is
//! issued once the service is reachable again.

use std::time::{Duration, SystemTime};

use agentnet_e2e::node::{self, NAMESPACE, WEBHOOK_DEPLOYMENT, node};
use agentnet_e2e::pods::{self, container_pid, in_netns, wait_ready};
use agentnet_e2e::workloads::{OPT_IN, agent_pod_yaml, apply};
use agentnet_e2e::{TestNs, eventually};
use base64::Engine;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use serde_json::Value;

const SIDECAR: &str = "agentnet-sidecar";

/// `agentnet-sidecar status --json` of a pod's sidecar.
fn status(ns: &TestNs, pod: &str) -> Value {
    let out = pods::exec_ok(
        node(),
        &ns.name,
        pod,
        SIDECAR,
        &["agentnet-sidecar", "status", "--json"],
    )
    .unwrap();
    serde_json::from_str(&out).unwrap()
}

/// A file in the sidecar's mount namespace, read from the node.
fn sidecar_file(pid: u32, path: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/root{path}")).unwrap()
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn rfc3339(v: &Value) -> SystemTime {
    humantime_rfc3339(v.as_str().unwrap())
}

fn humantime_rfc3339(s: &str) -> SystemTime {
    let ts: k8s_openapi::jiff::Timestamp = s.parse().unwrap();
    SystemTime::UNIX_EPOCH + Duration::from_secs(ts.as_second().try_into().unwrap())
}

#[tokio::test]
async fn the_kubelet_mounts_and_rotates_the_token_and_the_trust_bundle() {
    // Held while the webhook must answer (the CA commands), not through the long wait
    // for the kubelet's rotation, so tests that stop the webhook are not held up.
    let shared = node::shared().await;
    let install = node::install().await.unwrap();
    let ns = TestNs::create(node(), "pod-identity-rotation", &[OPT_IN])
        .await
        .unwrap();
    let yaml = agent_pod_yaml(
        &ns.name,
        "agent",
        "agent",
        &install.peers_image,
        &["sleep", "infinity"],
        &[("agentnet.dev/cert-lifetime", "1m")],
        1,
    );
    apply(&ns, &yaml).unwrap();
    let api: Api<Pod> = ns.api();
    let pod = wait_ready(&api, "agent", node::POD_START).await.unwrap();
    let pid = container_pid(node(), &pod, SIDECAR).unwrap();

    // The projected token: audience agentnet, bound to this pod, short-lived.
    let token_path = "/var/run/secrets/agentnet.dev/token/token";
    let first = sidecar_file(pid, token_path);
    let claims = jwt_claims(&first);
    assert_eq!(claims["aud"], serde_json::json!(["agentnet"]), "{claims}");
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "agent", "{claims}");
    let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(ttl <= 3600, "a short-lived token: {ttl}s");
    // The trust bundle: the identity CA's roots, and the sidecar trusts them.
    let bundle_path = "/var/run/secrets/agentnet.dev/trust/ca-bundle.pem";
    let roots = sidecar_file(pid, bundle_path)
        .matches("BEGIN CERTIFICATE")
        .count();
    assert!(roots >= 1);
    assert_eq!(status(&ns, "agent")["trustRoots"], roots);

    // A new root reaches the mounted file and the running sidecar, without a restart.
    let deployment = format!("deploy/{WEBHOOK_DEPLOYMENT}");
    let ca = |args: &[&str]| {
        let mut cmd = vec![
            "-n",
            NAMESPACE,
            "exec",
            deployment.as_str(),
            "--",
            "agentnet-webhook",
            "ca",
        ];
        cmd.extend_from_slice(args);
        node().kubectl_ok(&cmd)
    };
    let added = ca(&["add-root"]).unwrap();
    let id = added.trim().to_owned();
    let rotated = eventually(
        "the new root in the pod",
        Duration::from_secs(120),
        || async {
            let mounted = sidecar_file(pid, bundle_path)
                .matches("BEGIN CERTIFICATE")
                .count();
            Ok(
                (mounted == roots + 1 && status(&ns, "agent")["trustRoots"] == roots + 1)
                    .then_some(()),
            )
        },
    )
    .await;
    ca(&["remove-root", &id]).unwrap();
    rotated.unwrap();
    drop(shared);

    // The kubelet replaces the token at 80 % of its lifetime; the sidecar's renewals
    // keep working with the new one.
    let rotation = Duration::from_secs(u64::try_from(ttl).unwrap() + 60);
    let second = eventually("the kubelet to rotate the token", rotation, || async {
        let now = sidecar_file(pid, token_path);
        Ok((now != first).then_some(now))
    })
    .await
    .unwrap();
    assert!(jwt_claims(&second)["iat"].as_i64() > claims["iat"].as_i64());
    // A renewal that starts after the rotation reads the new token (the file is read
    // per request): two more publishes guarantee one.
    let renewals = status(&ns, "agent")["renewals"].as_u64().unwrap();
    let renewed = eventually(
        "two renewals after the rotation",
        Duration::from_secs(120),
        || async {
            let s = status(&ns, "agent");
            Ok((s["renewals"].as_u64() >= Some(renewals + 2)).then_some(s))
        },
    )
    .await
    .unwrap();
    assert_eq!(renewed["ready"], true, "{renewed}");
    assert_eq!(
        container_status_restarts(&api).await,
        0,
        "no sidecar restart needed"
    );
}

async fn container_status_restarts(api: &Api<Pod>) -> i32 {
    let pod = api.get("agent").await.unwrap();
    pods::container_status(&pod, SIDECAR).map_or(-1, |s| s.restart_count)
}

/// The callee: the MCP server behind its own sidecar's inbound (mTLS) listener, as
/// XBackend `callee`, which the ServiceAccount `caller` may call `add` on.
fn callee_yaml(ns: &str, image: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: ServiceAccount
metadata: {{name: callee, namespace: {ns}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: callee, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: callee}}}}
  template:
    metadata:
      labels: {{app: callee}}
      annotations: {{agentnet.dev/inbound-backend: callee, agentnet.dev/inbound-port: "8080"}}
    spec:
      serviceAccountName: callee
      containers:
      - name: server
        image: {image}
        command: [python3, /opt/peers/bin/mcp_server.py, --host, 127.0.0.1, --port, "8080", --json-response]
---
apiVersion: v1
kind: Service
metadata:
  name: callee
  namespace: {ns}
  annotations: {{agentnet.dev/peer-identity: callee}}
spec:
  selector: {{app: callee}}
  ports: [{{name: http, port: 8080, targetPort: 15006}}]
---
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {{name: callee, namespace: {ns}}}
spec: {{mcp: {{serviceName: callee, port: 8080}}}}
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {{name: callee-callers, namespace: {ns}}}
spec:
  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: callee}}]
  action: Allow
  rules:
  - name: caller
    source: {{type: ServiceAccount, serviceAccount: {{name: caller}}}}
    authorization:
      type: Inline
      mcp:
        mcpBaseProtocolMethodsOption: MATCH_BASE_PROTOCOL_METHODS
        methods: [{{name: tools/call, params: [add]}}]
"#
    )
}

fn last_outcome_after(log: &str, after: SystemTime) -> Vec<String> {
    let since = after
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["t"].as_f64().is_some_and(|t| t > since))
        .filter_map(|l| l["outcome"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_identity_outage_keeps_the_old_certificate_until_it_expires_then_fails_closed() {
    let _shared = node::shared().await;
    let install = node::install().await.unwrap();
    let ns = TestNs::create(node(), "pod-identity-outage", &[OPT_IN])
        .await
        .unwrap();
    apply(&ns, &callee_yaml(&ns.name, &install.peers_image)).unwrap();
    node()
        .kubectl_ok(&[
            "-n",
            &ns.name,
            "rollout",
            "status",
            "deployment/callee",
            "--timeout=120s",
        ])
        .unwrap();
    let url = format!("http://callee.{}:8080/mcp", ns.name);
    let command = [
        "python3",
        "/opt/peers/bin/agent_probe.py",
        "loop",
        &url,
        "add",
        r#"{"a": 1, "b": 2}"#,
        "--interval",
        "0.5",
    ];
    let yaml = agent_pod_yaml(
        &ns.name,
        "caller",
        "caller",
        &install.peers_image,
        &command,
        &[("agentnet.dev/cert-lifetime", "1m")],
        1,
    );
    apply(&ns, &yaml).unwrap();
    let api: Api<Pod> = ns.api();
    let pod = wait_ready(&api, "caller", node::POD_START).await.unwrap();
    eventually(
        "mTLS calls to the callee",
        Duration::from_secs(30),
        || async {
            let log = pods::logs(node(), &ns.name, "caller", "agent", false)?;
            Ok(log.contains("\"allowed\"").then_some(()))
        },
    )
    .await
    .unwrap();

    // Cut the caller off from the identity service (its port, whatever the address).
    let pid = container_pid(node(), &pod, SIDECAR).unwrap();
    let rule = ["OUTPUT", "-p", "tcp", "--dport", "8444", "-j", "REJECT"];
    in_netns(pid, &[&["iptables", "-I"][..], &rule].concat()).unwrap();
    let held = status(&ns, "caller");
    let serial = held["certificate"]["serial"].clone();
    let expires = rfc3339(&held["certificate"]["notAfter"]);

    // Until it expires, the certificate in hand keeps serving.
    let until = expires
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(until.saturating_sub(Duration::from_secs(5))).await;
    let before_expiry = status(&ns, "caller");
    assert_eq!(
        before_expiry["certificate"]["serial"], serial,
        "no renewal got through"
    );
    let log = pods::logs(node(), &ns.name, "caller", "agent", false).unwrap();
    let recent = last_outcome_after(&log, expires - Duration::from_secs(15));
    assert!(
        recent.iter().any(|o| o == "allowed"),
        "the old certificate served: {recent:?}"
    );

    // Past its expiry, calls to the peer fail closed.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let log = pods::logs(node(), &ns.name, "caller", "agent", false).unwrap();
    let after = last_outcome_after(&log, expires + Duration::from_secs(3));
    let restore = in_netns(pid, &[&["iptables", "-D"][..], &rule].concat());
    assert!(
        !after.is_empty() && after.iter().all(|o| o != "allowed"),
        "after expiry: {after:?}"
    );
    restore.unwrap();

    // Back online: a new certificate, and calls succeed again.
    let renewed = eventually("a new certificate", Duration::from_secs(180), || async {
        let s = status(&ns, "caller");
        Ok((s["certificate"]["serial"] != serial && s["ready"] == true).then_some(s))
    })
    .await
    .unwrap();
    let since = SystemTime::now();
    eventually(
        "calls to succeed again",
        Duration::from_secs(30),
        || async {
            let log = pods::logs(node(), &ns.name, "caller", "agent", false)?;
            Ok(last_outcome_after(&log, since)
                .iter()
                .any(|o| o == "allowed")
                .then_some(()))
        },
    )
    .await
    .unwrap();
    assert!(rfc3339(&renewed["certificate"]["notAfter"]) > SystemTime::now());
}
