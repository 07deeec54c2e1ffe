//! Transparent capture in real pods: an agent that ignores `HTTP_PROXY` (an HTTP
//! library told to, or a request written by hand on a socket) and calls a backend by its
//! Service's cluster IP, an endpoint's pod IP or its DNS name is mediated all the same:
//! allowed calls work, denied calls and hidden tools never reach the server (it counts
//! what it receives). Opaque TCP to a non-backend follows the pod's outbound default.
//! The app cannot remove the rules; an init container that cannot install them keeps
//! the pod from starting; inbound, a caller without a sidecar cannot skip the inbound
//! listener by dialing the app's port.

use std::time::Duration;

use agentnet_e2e::node::{self, node};
use agentnet_e2e::pods::{self, wait_ready};
use agentnet_e2e::workloads::{OPT_IN, agent_pod_yaml, apply, tools_stats, tools_yaml, wait_tools};
use agentnet_e2e::{TestNs, eventually, output_text};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

const PROBE: &str = "/opt/peers/bin/agent_probe.py";

fn probe(ns: &TestNs, pod: &str, args: &[&str]) -> Value {
    let mut cmd = vec!["python3", PROBE];
    cmd.extend_from_slice(args);
    let out = pods::exec_ok(node(), &ns.name, pod, "agent", &cmd).unwrap();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

fn get(ns: &TestNs, what: &[&str]) -> String {
    let mut args = vec!["-n", ns.name.as_str(), "get"];
    args.extend_from_slice(what);
    node().kubectl_ok(&args).unwrap().trim().to_owned()
}

/// An opted-in namespace (iptables capture, the default) with the tools server and an
/// idle agent pod `agent` whose ServiceAccount may call `add` only.
async fn world(prefix: &str, annotations: &[(&str, &str)]) -> TestNs {
    let install = node::install().await.unwrap();
    let ns = TestNs::create(node(), prefix, &[OPT_IN]).await.unwrap();
    apply(
        &ns,
        &tools_yaml(&ns.name, &install.peers_image, &["agent"], &["add"]),
    )
    .unwrap();
    let pod = agent_pod_yaml(
        &ns.name,
        "agent",
        "agent",
        &install.peers_image,
        &["sleep", "infinity"],
        annotations,
        1,
    );
    apply(&ns, &pod).unwrap();
    wait_tools(&ns).unwrap();
    wait_ready(&ns.api::<Pod>(), "agent", node::POD_START)
        .await
        .unwrap();
    ns
}

#[tokio::test]
async fn an_agent_that_ignores_the_proxy_is_mediated_by_cluster_ip_pod_ip_and_dns() {
    let _shared = node::shared().await;
    let ns = world("capture-http", &[]).await;
    let cluster_ip = get(
        &ns,
        &["service", "tools", "-o", "jsonpath={.spec.clusterIP}"],
    );
    let pod_ip = get(
        &ns,
        &[
            "pods",
            "-l",
            "app=tools",
            "-o",
            "jsonpath={.items[0].status.podIP}",
        ],
    );
    let dns = format!("tools.{}", ns.name);
    let mut allowed = 0;
    for host in [&cluster_ip, &pod_ip, &dns] {
        let url = format!("http://{host}:8080/mcp");
        for mode in ["call", "raw"] {
            let add = probe(
                &ns,
                "agent",
                &[mode, &url, "add", r#"{"a":2,"b":3}"#, "--no-proxy"],
            );
            assert_eq!(add["outcome"], "allowed", "{mode} add via {host}: {add}");
            allowed += 1;
            let secret = probe(
                &ns,
                "agent",
                &[mode, &url, "get-secret", "{}", "--no-proxy"],
            );
            assert_eq!(
                secret["outcome"], "denied",
                "{mode} get-secret via {host}: {secret}"
            );
            assert_eq!(
                secret["detail"]["data"]["policy"],
                format!("{}/tools-callers", ns.name)
            );
        }
        let listed = probe(&ns, "agent", &["list", &url, "--no-proxy"]);
        assert_eq!(
            listed["tools"],
            json!(["add"]),
            "tools/list via {host}: {listed}"
        );
    }
    let stats = tools_stats(&ns).await.unwrap();
    assert_eq!(stats["tool_calls"]["add"], allowed, "{stats}");
    assert_eq!(
        stats["tool_calls"].get("get-secret"),
        None,
        "a denied call reached the server: {stats}"
    );
    // The audit names the original destination's backend for every captured call.
    let log = pods::logs(node(), &ns.name, "agent", "agentnet-sidecar", false).unwrap();
    let denied = log
        .lines()
        .filter(|l| l.contains("\"decision\":\"deny\"") && l.contains("get-secret"))
        .count();
    assert_eq!(denied, 6, "one audit line per denied call");
}

#[tokio::test]
async fn opaque_tcp_to_a_non_backend_follows_the_outbound_default() {
    let _shared = node::shared().await;
    let install = node::install().await.unwrap();
    let ns = world("capture-tcp", &[]).await;
    let echo = agent_pod_yaml(
        &ns.name,
        "echo",
        "echo",
        &install.peers_image,
        &["python3", PROBE, "echo-server", "7000"],
        &[],
        1,
    )
    .replace(
        "  name: echo\n  namespace",
        "  name: echo\n  labels: {agentnet.dev/inject: disabled}\n  namespace",
    );
    apply(&ns, &echo).unwrap();
    let closed = agent_pod_yaml(
        &ns.name,
        "closed",
        "agent",
        &install.peers_image,
        &["sleep", "infinity"],
        &[("agentnet.dev/outbound-default", "deny")],
        1,
    );
    apply(&ns, &closed).unwrap();
    let api = ns.api::<Pod>();
    wait_ready(&api, "echo", node::POD_START).await.unwrap();
    wait_ready(&api, "closed", node::POD_START).await.unwrap();
    let echo_ip = get(&ns, &["pod", "echo", "-o", "jsonpath={.status.podIP}"]);
    let target = format!("{echo_ip}:7000");
    let open = probe(&ns, "agent", &["tcp", &target]);
    assert_eq!(open["outcome"], "echoed", "outbound default allow: {open}");
    let refused = probe(&ns, "closed", &["tcp", &target]);
    assert_ne!(
        refused["outcome"], "echoed",
        "outbound default deny: {refused}"
    );
    let seen = pods::logs(node(), &ns.name, "echo", "agent", false).unwrap();
    assert_eq!(
        seen.lines().count(),
        1,
        "only the allowed connection reached the server: {seen}"
    );
    let audit = pods::logs(node(), &ns.name, "closed", "agentnet-sidecar", false).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"decision\":\"deny\"") && l.contains(&target)),
        "the refusal is audited with its destination: {audit}"
    );
}

#[tokio::test]
async fn the_app_cannot_remove_the_rules() {
    let _shared = node::shared().await;
    let install = node::install().await.unwrap();
    let ns = TestNs::create(node(), "capture-root", &[OPT_IN])
        .await
        .unwrap();
    apply(
        &ns,
        &tools_yaml(&ns.name, &install.peers_image, &["agent"], &["add"]),
    )
    .unwrap();
    // Root in its container, but without NET_ADMIN (nobody grants it to the app).
    let pod = agent_pod_yaml(
        &ns.name,
        "agent",
        "agent",
        &install.peers_image,
        &["sleep", "infinity"],
        &[],
        1,
    )
    .replace(
        "    command:",
        "    securityContext: {runAsUser: 0, runAsNonRoot: false}\n    command:",
    );
    apply(&ns, &pod).unwrap();
    wait_tools(&ns).unwrap();
    wait_ready(&ns.api::<Pod>(), "agent", node::POD_START)
        .await
        .unwrap();
    for attempt in [
        &["iptables", "-t", "nat", "-F"][..],
        &[
            "iptables",
            "-t",
            "nat",
            "-D",
            "OUTPUT",
            "-p",
            "tcp",
            "-j",
            "AGENTNET_OUTPUT",
        ],
    ] {
        let out = pods::exec(node(), &ns.name, "agent", "agent", attempt).unwrap();
        assert!(
            !out.status.success(),
            "{attempt:?} succeeded: {}",
            output_text(&out)
        );
    }
    let url = format!("http://tools.{}:8080/mcp", ns.name);
    let secret = probe(&ns, "agent", &["raw", &url, "get-secret", "{}"]);
    assert_eq!(secret["outcome"], "denied", "still captured: {secret}");
}

#[tokio::test]
async fn a_pod_whose_rules_cannot_be_installed_does_not_start() {
    let _shared = node::shared().await;
    let install = node::install().await.unwrap();
    let ns = TestNs::create(node(), "capture-fail", &[OPT_IN])
        .await
        .unwrap();
    ns.create_service_account("agent").await.unwrap();
    let plain = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "agent", "namespace": ns.name},
        "spec": {"serviceAccountName": "agent", "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "agent", "image": install.peers_image, "command": ["sleep", "infinity"]}]},
    });
    // What admission makes of the pod, then the capture container without NET_ADMIN
    // (as a policy engine or a careless edit might leave it): the webhook leaves an
    // injected pod as it is.
    let out = ns
        .cluster
        .kubectl_stdin(
            &["create", "--dry-run=server", "-o", "json", "-f", "-"],
            &plain.to_string(),
        )
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let mut pod: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pod["spec"]["initContainers"][0]["name"], "agentnet-init");
    pod["spec"]["initContainers"][0]["securityContext"]["capabilities"]["add"] = json!([]);
    for key in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
    ] {
        pod["metadata"].as_object_mut().unwrap().remove(key);
    }
    pod.as_object_mut().unwrap().remove("status");
    let created = ns.apply_yaml(&pod.to_string()).unwrap();
    assert!(created.status.success(), "{}", output_text(&created));
    let api = ns.api::<Pod>();
    let failed = eventually("the capture container to fail", node::POD_START, || async {
        let pod = api.get("agent").await?;
        let init = pods::container_status(&pod, "agentnet-init").cloned();
        let terminated = init.and_then(|s| {
            s.last_state
                .and_then(|l| l.terminated)
                .or(s.state.and_then(|s| s.terminated))
        });
        Ok(terminated.filter(|t| t.exit_code != 0).map(|t| (pod, t)))
    })
    .await
    .unwrap();
    let (pod, terminated) = failed;
    assert!(
        terminated
            .message
            .unwrap_or_default()
            .contains("must not start without its capture rules"),
        "the reason is in the termination message"
    );
    assert_eq!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );
    let app = pods::container_status(&pod, "agent");
    assert!(
        app.is_none_or(|s| s.state.as_ref().and_then(|s| s.running.as_ref()).is_none()),
        "the app never ran"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pod = api.get("agent").await.unwrap();
    assert!(!pods::is_ready(&pod));
}

#[tokio::test]
async fn a_caller_without_a_sidecar_cannot_skip_the_inbound_listener() {
    let _shared = node::shared().await;
    let install = node::install().await.unwrap();
    let ns = TestNs::create(node(), "capture-inbound", &[OPT_IN])
        .await
        .unwrap();
    let callee = format!(
        r#"
apiVersion: v1
kind: ServiceAccount
metadata: {{name: callee, namespace: {ns}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: callee
  namespace: {ns}
  labels: {{app: callee}}
  annotations: {{agentnet.dev/inbound-backend: callee, agentnet.dev/inbound-port: "8080"}}
spec:
  serviceAccountName: callee
  containers:
  - name: agent
    image: {image}
    command: [python3, /opt/peers/bin/mcp_server.py, --host, 0.0.0.0, --port, "8080", --json-response]
---
apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {{name: callee, namespace: {ns}}}
spec: {{mcp: {{serviceName: callee, port: 8080}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: callee, namespace: {ns}, annotations: {{agentnet.dev/peer-identity: callee}}}}
spec: {{selector: {{app: callee}}, ports: [{{port: 8080, targetPort: 15006}}]}}
"#,
        ns = ns.name,
        image = install.peers_image
    );
    apply(&ns, &callee).unwrap();
    let stranger = agent_pod_yaml(
        &ns.name,
        "stranger",
        "stranger",
        &install.peers_image,
        &["sleep", "infinity"],
        &[],
        1,
    )
    .replace(
        "  name: stranger\n  namespace",
        "  name: stranger\n  labels: {agentnet.dev/inject: disabled}\n  namespace",
    );
    apply(&ns, &stranger).unwrap();
    let api = ns.api::<Pod>();
    wait_ready(&api, "callee", node::POD_START).await.unwrap();
    wait_ready(&api, "stranger", node::POD_START).await.unwrap();
    let ip = get(&ns, &["pod", "callee", "-o", "jsonpath={.status.podIP}"]);
    let url = format!("http://{ip}:8080/mcp");
    // Straight to the app's port, in clear text: redirected to the mTLS listener.
    let direct = probe(&ns, "stranger", &["raw", &url, "add", r#"{"a":1,"b":1}"#]);
    assert_eq!(direct["outcome"], "refused", "{direct}");
    let stats = agentnet_e2e::http_get(&format!("{ip}:8080"), "/stats").await;
    // The node's own probe is redirected too; it is not a TLS client either.
    assert!(
        stats.is_err(),
        "the app's port answers only through the inbound listener"
    );
}
