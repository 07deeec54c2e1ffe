//! Pods on the real node: waiting for them, `kubectl exec` and `logs`, their
//! containers' processes (for faults a test injects from the host) and their network
//! namespace.

use std::process::Output;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;

use crate::node::cluster_dir;
use crate::{ControlPlane, eventually, output_text};

/// Waits until the pod is Running and Ready; returns it.
pub async fn wait_ready(api: &Api<Pod>, name: &str, timeout: Duration) -> Result<Pod> {
    eventually(
        &format!("pod {name} to be Running and Ready"),
        timeout,
        || async {
            let pod = api.get(name).await?;
            Ok(is_ready(&pod).then_some(pod))
        },
    )
    .await
}

pub fn is_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    running && ready
}

/// The status of a container (init containers included) by name.
pub fn container_status<'p>(pod: &'p Pod, container: &str) -> Option<&'p ContainerStatus> {
    let status = pod.status.as_ref()?;
    let all = status.init_container_statuses.iter().flatten();
    all.chain(status.container_statuses.iter().flatten())
        .find(|c| c.name == container)
}

/// `kubectl exec -n NS POD -c CONTAINER -- CMD…`.
pub fn exec(
    cp: &ControlPlane,
    ns: &str,
    pod: &str,
    container: &str,
    cmd: &[&str],
) -> Result<Output> {
    let mut args = vec!["exec", "-n", ns, pod, "-c", container, "--"];
    args.extend_from_slice(cmd);
    cp.kubectl(&args)
}

/// `exec` that must succeed; its stdout.
pub fn exec_ok(
    cp: &ControlPlane,
    ns: &str,
    pod: &str,
    container: &str,
    cmd: &[&str],
) -> Result<String> {
    let out = exec(cp, ns, pod, container, cmd)?;
    if !out.status.success() {
        bail!(
            "exec {cmd:?} in {ns}/{pod} -c {container} failed: {}",
            output_text(&out)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `kubectl logs` of a container (of its previous instance with `previous`).
pub fn logs(
    cp: &ControlPlane,
    ns: &str,
    pod: &str,
    container: &str,
    previous: bool,
) -> Result<String> {
    let mut args = vec!["logs", "-n", ns, pod, "-c", container];
    if previous {
        args.push("--previous");
    }
    let out = cp.kubectl(&args)?;
    if !out.status.success() {
        bail!(
            "kubectl logs {ns}/{pod} -c {container} failed: {}",
            output_text(&out)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The host pid of a running container's main process, from containerd (the test runs
/// on the node, as root, so it can signal it or enter its namespaces).
pub fn container_pid(cp: &ControlPlane, pod: &Pod, container: &str) -> Result<u32> {
    let status = container_status(pod, container)
        .with_context(|| format!("pod has no container {container}"))?;
    let id = status
        .container_id
        .as_deref()
        .and_then(|id| id.strip_prefix("containerd://"))
        .with_context(|| format!("container {container} has no containerd id yet"))?;
    let sock = cluster_dir(cp).join("node/containerd/containerd.sock");
    let ctr = crate::node::nodebin_dir()?.join("ctr");
    let out = std::process::Command::new(ctr)
        .args(["--address"])
        .arg(&sock)
        .args(["-n", "k8s.io", "tasks", "list"])
        .output()
        .context("running ctr tasks list")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with(id))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|pid| pid.parse().ok())
        .with_context(|| format!("no running task for container {container} ({id}): {text}"))
}

/// Runs a command on the host inside the network namespace of `pid` (nsenter), e.g.
/// iptables rules that cut a pod off from one address.
pub fn in_netns(pid: u32, cmd: &[&str]) -> Result<Output> {
    let target = pid.to_string();
    let mut args = vec!["-t", target.as_str(), "-n", "--"];
    args.extend_from_slice(cmd);
    let out = std::process::Command::new("nsenter")
        .args(&args)
        .output()
        .context("running nsenter")?;
    if !out.status.success() {
        bail!("nsenter {args:?} failed: {}", output_text(&out));
    }
    Ok(out)
}
