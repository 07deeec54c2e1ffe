//! What only a kubelet does, on the real node with agentnet installed from its images:
//! the native sidecar's start order and probes, its restart after a crash (the app's
//! calls failing closed meanwhile), pod deletion draining the sidecar after the app,
//! and the webhook Deployment behind its Service losing one replica or all of them
//! (admission goes on; a sidecar streaming its policy from the lost replica moves to
//! the other and misses no change).

use std::time::{Duration, Instant};

use agentnet_e2e::node::{self, NAMESPACE, WEBHOOK_DEPLOYMENT, node};
use agentnet_e2e::pods::{self, container_pid, container_status, is_ready, wait_ready};
use agentnet_e2e::workloads::{OPT_IN, agent_pod_yaml, apply, tools_stats, tools_yaml, wait_tools};
use agentnet_e2e::{TestNs, eventually, output_text};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};

const SIDECAR: &str = "agentnet-sidecar";

/// An opted-in namespace with the tools server, and its URL.
async fn tools_namespace(prefix: &str, callers: &[&str], allowed: &[&str]) -> (TestNs, String) {
    let install = node::install().await.unwrap();
    let ns = TestNs::create(node(), prefix, &[OPT_IN]).await.unwrap();
    apply(
        &ns,
        &tools_yaml(&ns.name, &install.peers_image, callers, allowed),
    )
    .unwrap();
    wait_tools(&ns).unwrap();
    let url = format!("http://tools.{}:8080/mcp", ns.name);
    (ns, url)
}

/// An opted-in namespace with the tools server admitting `add`, and a Ready pod
/// `agent` whose app calls a tool it may not call (`get-secret`) five times a second
/// for the whole test.
async fn looping_agent(prefix: &str) -> (TestNs, Api<Pod>, Pod) {
    let install = node::install().await.unwrap();
    let (ns, url) = tools_namespace(prefix, &["agent"], &["add"]).await;
    let command = [
        "python3",
        "/opt/peers/bin/agent_probe.py",
        "loop",
        &url,
        "get-secret",
    ];
    let yaml = agent_pod_yaml(
        &ns.name,
        "agent",
        "agent",
        &install.peers_image,
        &command,
        &[],
        2,
    );
    apply(&ns, &yaml).unwrap();
    let api: Api<Pod> = ns.api();
    let pod = wait_ready(&api, "agent", node::POD_START).await.unwrap();
    (ns, api, pod)
}

/// Watches pod `agent` from now on: true once it is seen not Ready.
fn unready_seen(api: Api<Pod>) -> tokio::task::JoinHandle<bool> {
    tokio::spawn(async move {
        let config = watcher::Config::default().fields("metadata.name=agent");
        let mut events = watcher::watcher(api, config).boxed();
        while let Some(Ok(event)) = events.next().await {
            if let Event::Apply(p) | Event::InitApply(p) = event
                && !is_ready(&p)
            {
                return true;
            }
        }
        false
    })
}

fn probe_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test]
async fn the_sidecar_starts_first_and_a_crash_is_restarted_while_calls_fail_closed() {
    let _shared = node::shared().await;
    let (ns, api, pod) = looping_agent("kubelet-crash").await;

    // Start order: the kubelet started the app only after the sidecar's startup probe.
    let started = |c: &str| {
        container_status(&pod, c)
            .and_then(|s| s.state.as_ref()?.running.as_ref()?.started_at.clone())
            .unwrap()
            .0
    };
    assert!(started(SIDECAR) <= started("agent"));
    let first = probe_lines(&pods::logs(node(), &ns.name, "agent", "agent", false).unwrap());
    assert_eq!(
        first[0]["outcome"], "denied",
        "the app's very first call was mediated: {first:?}"
    );

    // SIGKILL the sidecar's process from the node; watch the pod meanwhile.
    let pid = container_pid(node(), &pod, SIDECAR).unwrap();
    let saw_unready = unready_seen(api.clone());
    let killed_at = Instant::now();
    nix_kill(pid);
    let restarted = eventually(
        "the kubelet to restart the sidecar",
        Duration::from_secs(60),
        || async {
            let pod = api.get("agent").await?;
            let restarts = container_status(&pod, SIDECAR).map_or(0, |s| s.restart_count);
            Ok((restarts >= 1 && is_ready(&pod)).then_some(pod))
        },
    )
    .await
    .unwrap();
    let down_for = killed_at.elapsed();
    assert!(
        tokio::time::timeout(Duration::from_secs(5), saw_unready)
            .await
            .unwrap()
            .unwrap(),
        "the pod was never reported not Ready while its sidecar was down"
    );
    assert_ne!(container_pid(node(), &restarted, SIDECAR).unwrap(), pid);
    // The app kept running; every call was denied by the sidecar or refused while it
    // was down, and the server never ran the tool.
    let lines = probe_lines(&pods::logs(node(), &ns.name, "agent", "agent", false).unwrap());
    let outcomes: Vec<&str> = lines.iter().filter_map(|l| l["outcome"].as_str()).collect();
    assert!(
        outcomes.iter().all(|o| *o == "denied" || *o == "refused"),
        "{lines:?}"
    );
    assert!(
        outcomes.contains(&"refused"),
        "no call was made while the sidecar was down ({down_for:?})"
    );
    assert_eq!(
        outcomes.last(),
        Some(&"denied"),
        "mediated again after the restart"
    );
    let stats = tools_stats(&ns).await.unwrap();
    assert_eq!(stats["tool_calls"].get("get-secret"), None, "{stats}");
}

#[tokio::test]
async fn pod_deletion_stops_the_app_first_and_the_sidecar_serves_it_until_then() {
    let _shared = node::shared().await;
    let install = node::install().await.unwrap();
    let (ns, url) = tools_namespace("kubelet-drain", &["agent"], &["add"]).await;
    // On SIGTERM the app waits 2 s, then makes one (allowed) call and exits.
    let command = [
        "python3",
        "/opt/peers/bin/agent_probe.py",
        "on-sigterm",
        &url,
        "add",
        r#"{"a": 40, "b": 2}"#,
        "--delay",
        "2",
    ];
    let yaml = agent_pod_yaml(
        &ns.name,
        "agent",
        "agent",
        &install.peers_image,
        &command,
        &[],
        20,
    );
    apply(&ns, &yaml).unwrap();
    let api: Api<Pod> = ns.api();
    wait_ready(&api, "agent", node::POD_START).await.unwrap();
    let start = probe_lines(&pods::logs(node(), &ns.name, "agent", "agent", false).unwrap());
    assert_eq!(
        start[0]["start"], "ready 200",
        "the sidecar was ready when the app started"
    );

    // Watch the pod's last statuses while it terminates.
    let watch_api = api.clone();
    let statuses = tokio::spawn(async move {
        let config = watcher::Config::default().fields("metadata.name=agent");
        let mut events = watcher::watcher(watch_api, config).boxed();
        let mut seen = Vec::new();
        while let Some(Ok(event)) = events.next().await {
            match event {
                Event::Apply(p) => seen.push(p),
                Event::Delete(_) => break,
                _ => {}
            }
        }
        seen
    });
    api.delete("agent", &DeleteParams::default()).await.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(60), statuses)
        .await
        .unwrap()
        .unwrap();
    // The call the app made after SIGTERM went through the sidecar and ran.
    let stats = tools_stats(&ns).await.unwrap();
    assert_eq!(stats["tool_calls"]["add"], 1, "{stats}");
    // The app ended cleanly, and the sidecar was still running when it did.
    let app_done = seen.iter().find(|p| {
        container_status(p, "agent")
            .and_then(|s| s.state.as_ref()?.terminated.as_ref())
            .is_some()
    });
    let app_done = app_done.expect("no status showed the app terminated");
    let terminated = container_status(app_done, "agent")
        .and_then(|s| s.state.as_ref()?.terminated.clone())
        .unwrap();
    assert_eq!(terminated.exit_code, 0, "{terminated:?}");
    let sidecar_then = container_status(app_done, SIDECAR)
        .and_then(|s| s.state.clone())
        .unwrap();
    let sidecar_ended_after = match (&sidecar_then.running, &sidecar_then.terminated) {
        (Some(_), _) => true,
        (_, Some(t)) => {
            t.finished_at.as_ref().map(|f| f.0) >= terminated.finished_at.as_ref().map(|f| f.0)
        }
        _ => false,
    };
    assert!(
        sidecar_ended_after,
        "the sidecar stopped before the app: {sidecar_then:?}"
    );
}

#[tokio::test]
async fn admission_keeps_working_when_the_webhook_deployment_loses_a_replica() {
    // Others count on two replicas (the demo shows them): alone.
    let _alone = node::exclusive().await;
    node::install().await.unwrap();
    let ns = TestNs::create(node(), "kubelet-replica", &[OPT_IN])
        .await
        .unwrap();
    let client = node().client().await.unwrap();
    // Two settled replicas, and a disruption budget that knows it.
    wait_available(&client, 2).await;
    let webhook_pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NAMESPACE);
    let selector = ListParams::default().labels("app.kubernetes.io/name=agentnet-webhook");
    let names = eventually(
        "two webhook pods and one allowed disruption",
        Duration::from_secs(60),
        || async {
            let pods = webhook_pods.list(&selector).await?.items;
            let settled = pods
                .iter()
                .all(|p| p.metadata.deletion_timestamp.is_none() && is_ready(p));
            let pdb = pdbs
                .get(WEBHOOK_DEPLOYMENT)
                .await?
                .status
                .unwrap_or_default();
            let names: Vec<String> = pods.into_iter().filter_map(|p| p.metadata.name).collect();
            Ok((settled
                && names.len() == 2
                && pdb.disruptions_allowed == Some(1)
                && pdb.current_healthy == Some(2))
            .then_some(names))
        },
    )
    .await
    .unwrap();
    // Evict one, as a node drain would; the PodDisruptionBudget refuses the second.
    evict(&names[0]).unwrap();
    let second = evict(&names[1]).unwrap_err().to_string();
    assert!(
        second.contains("disruption budget"),
        "the PDB must keep one replica: {second}"
    );
    // Meanwhile every pod created in an opted-in namespace is injected.
    for i in 0..10 {
        let pod = dry_run_pod(&ns, &format!("p{i}")).unwrap();
        assert!(has_sidecar(&pod), "pod {i}: {pod}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_available(&client, 2).await;
}

#[tokio::test]
async fn with_every_webhook_replica_down_opted_in_pods_are_refused_and_others_are_not() {
    let _alone = node::exclusive().await;
    node::install().await.unwrap();
    let opted = TestNs::create(node(), "kubelet-down", &[OPT_IN])
        .await
        .unwrap();
    let other = TestNs::create(node(), "kubelet-other", &[]).await.unwrap();
    let client = node().client().await.unwrap();
    scale(&client, 0).await;
    let webhook_pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let selector = ListParams::default().labels("app.kubernetes.io/name=agentnet-webhook");
    eventually(
        "every webhook pod gone",
        Duration::from_secs(60),
        || async {
            Ok(webhook_pods
                .list(&selector)
                .await?
                .items
                .is_empty()
                .then_some(()))
        },
    )
    .await
    .unwrap();
    let refused = dry_run_pod(&opted, "refused").unwrap_err().to_string();
    let result = (|| -> anyhow::Result<()> {
        assert!(refused.contains("failed calling webhook"), "{refused}");
        assert!(
            refused.contains("agentnet"),
            "the message names the webhook: {refused}"
        );
        let admitted = dry_run_pod(&other, "admitted")?;
        assert!(admitted["spec"]["initContainers"].is_null(), "{admitted}");
        Ok(())
    })();
    scale(&client, 2).await;
    wait_available(&client, 2).await;
    result.unwrap();
    let pod = eventually("injection to resume", Duration::from_secs(60), || async {
        Ok(dry_run_pod(&opted, "resumed").ok())
    })
    .await
    .unwrap();
    assert!(has_sidecar(&pod), "{pod}");
}

#[tokio::test]
async fn a_sidecar_moves_to_the_other_webhook_replica_when_its_own_is_killed() {
    // It kills a webhook replica: alone.
    let _alone = node::exclusive().await;
    let install = node::install().await.unwrap();
    let client = node().client().await.unwrap();
    wait_available(&client, 2).await;
    let (ns, api, _) = looping_agent("kubelet-move").await;
    let holder = eventually(
        "a webhook replica to list the agent's sidecar",
        Duration::from_secs(60),
        || async {
            Ok(replica_holding(&client, &ns.name)
                .await?
                .map(|(pod, _)| pod))
        },
    )
    .await
    .unwrap();

    // Watch the agent pod from now on: it must never be reported not Ready.
    let saw_unready = unready_seen(api.clone());
    // Gone at once, as a crashed or lost node's pod is for its Service.
    let killed_at = Instant::now();
    let out = node()
        .kubectl(&[
            "delete",
            "pod",
            "-n",
            NAMESPACE,
            &holder,
            "--grace-period=0",
            "--force",
            "--wait=false",
        ])
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let (moved_to, session) = eventually(
        "the sidecar to stream from another replica",
        Duration::from_secs(60),
        || async {
            let held = replica_holding(&client, &ns.name).await?;
            // It holds the other replica's view: acknowledged as applied.
            Ok(held.filter(|(pod, s)| {
                *pod != holder && s["version"].is_string() && s["appliedVersion"] == s["version"]
            }))
        },
    )
    .await
    .unwrap_or_else(|e| {
        let webhooks = node()
            .kubectl(&["get", "pods", "-n", NAMESPACE, "-o", "wide"])
            .map(|o| output_text(&o))
            .unwrap_or_default();
        let sidecar = pods::logs(node(), &ns.name, "agent", SIDECAR, false).unwrap_or_default();
        panic!("{e:#}\nwebhook pods:\n{webhooks}\nsidecar log:\n{sidecar}")
    });
    let moved_after = killed_at.elapsed();

    // A change made now reaches it through the replica that is left.
    let widened = tools_yaml(
        &ns.name,
        &install.peers_image,
        &["agent"],
        &["add", "get-secret"],
    );
    apply(&ns, &widened).unwrap();
    let applied_at = Instant::now();
    let outcomes = || probe_lines(&pods::logs(node(), &ns.name, "agent", "agent", false).unwrap());
    eventually(
        "the widened policy to reach the sidecar",
        Duration::from_secs(30),
        || async {
            let lines = outcomes();
            Ok((lines.last().is_some_and(|l| l["outcome"] == "allowed")).then_some(()))
        },
    )
    .await
    .unwrap();
    let propagated = applied_at.elapsed();
    eprintln!(
        "sidecar moved to {moved_to} {moved_after:?} after {holder} was killed (session {session}); the next change enforced after {propagated:?}"
    );
    saw_unready.abort();
    let unready = saw_unready.await.unwrap_or(false);
    assert!(
        !unready,
        "the agent pod went unready while a replica was down"
    );
    // Nothing was let through or refused: denied until the change, allowed after it.
    let lines = outcomes();
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["outcome"].as_str()).collect();
    let first_allowed = kinds.iter().position(|o| *o == "allowed").unwrap();
    assert!(
        kinds[..first_allowed].iter().all(|o| *o == "denied")
            && kinds[first_allowed..].iter().all(|o| *o == "allowed"),
        "{lines:?}"
    );
    wait_available(&client, 2).await;
}

/// The webhook pod whose policy service streams to the sidecar of `<ns>/agent`, and
/// that session as `proxy-status --json` lists it.
async fn replica_holding(
    client: &kube::Client,
    ns: &str,
) -> anyhow::Result<Option<(String, Value)>> {
    let webhook_pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let selector = ListParams::default().labels("app.kubernetes.io/name=agentnet-webhook");
    for pod in webhook_pods.list(&selector).await?.items {
        let Some(name) = pod.metadata.name.clone() else {
            continue;
        };
        if pod.metadata.deletion_timestamp.is_some() || !is_ready(&pod) {
            continue;
        }
        let command = ["agentnet-webhook", "proxy-status", "--json"];
        let Ok(out) = pods::exec_ok(node(), NAMESPACE, &name, "webhook", &command) else {
            continue;
        };
        let sessions: Vec<Value> = serde_json::from_str(&out)?;
        if let Some(s) = sessions
            .into_iter()
            .find(|s| s["namespace"] == ns && s["pod"] == "agent")
        {
            return Ok(Some((name, s)));
        }
    }
    Ok(None)
}

fn has_sidecar(pod: &Value) -> bool {
    let init = pod["spec"]["initContainers"].as_array();
    init.is_some_and(|init| init.iter().any(|c| c["name"] == SIDECAR))
}

/// `kubectl create --dry-run=server` of a plain pod: what admission made of it.
fn dry_run_pod(ns: &TestNs, name: &str) -> anyhow::Result<Value> {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "example.com/agent:1"}]},
    });
    let out = ns.cluster.kubectl_stdin(
        &[
            "create",
            "--dry-run=server",
            "-n",
            &ns.name,
            "-o",
            "json",
            "-f",
            "-",
        ],
        &pod.to_string(),
    )?;
    if !out.status.success() {
        anyhow::bail!("{}", output_text(&out));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

async fn scale(client: &kube::Client, replicas: i32) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let patch = json!({"spec": {"replicas": replicas}});
    api.patch(
        WEBHOOK_DEPLOYMENT,
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .unwrap();
}

/// The webhook Deployment available with `replicas` pods and none terminating.
async fn wait_available(client: &kube::Client, replicas: i32) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let selector = ListParams::default().labels("app.kubernetes.io/name=agentnet-webhook");
    eventually(
        "the webhook Deployment available",
        Duration::from_secs(120),
        || async {
            let d = api.get(WEBHOOK_DEPLOYMENT).await?;
            let available = d.status.and_then(|s| s.available_replicas).unwrap_or(0);
            let count = pods.list(&selector).await?.items.len();
            Ok((available == replicas && count == usize::try_from(replicas)?).then_some(()))
        },
    )
    .await
    .unwrap();
}

/// Evicts a webhook pod (a policy/v1 Eviction, as `kubectl drain` posts it).
fn evict(pod: &str) -> anyhow::Result<()> {
    let eviction = json!({
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": pod, "namespace": NAMESPACE},
    });
    let path = format!("/api/v1/namespaces/{NAMESPACE}/pods/{pod}/eviction");
    let out = node().kubectl_stdin(
        &["create", "--raw", &path, "-f", "-"],
        &eviction.to_string(),
    )?;
    if !out.status.success() {
        anyhow::bail!("{}", output_text(&out));
    }
    Ok(())
}

fn nix_kill(pid: u32) {
    let out = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
}
