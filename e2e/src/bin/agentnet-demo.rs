//! agentnet's whole job on this machine, end to end (`hack/demo.sh` runs it after
//! installing the prerequisites and building the binaries): a development cluster with
//! a real node, the chart installed with Helm from the images, an agent Pod with its
//! injected sidecar, real MCP and A2A SDK peers, allowed and denied calls from inside
//! the Pod, a live policy edit, explain, the audit log and metrics, teardown.
//!
//! Environment: `AGENTNET_DEMO_REPORT=FILE` also writes the JSON report;
//! `AGENTNET_DEMO_KEEP=1` leaves the cluster running (its kubeconfig is printed).

use std::process::ExitCode;
use std::time::Instant;

use agentnet_e2e::demo::{self, Demo, Transcript};
use agentnet_e2e::node::{self, cluster_dir};
use agentnet_e2e::repo_root;

#[tokio::main]
async fn main() -> ExitCode {
    let started = Instant::now();
    let mut t = Transcript::new();
    t.title("agentnet demo: an AI agent's MCP and A2A calls mediated by its injected sidecar");
    t.say("starting the development cluster with a real node (hack/cluster.sh up --node) and installing agentnet");
    let cp = match std::panic::catch_unwind(node::node) {
        Ok(cp) => cp,
        Err(_) => {
            t.failure("agentnet demo: FAILED: the cluster did not start (see the errors above)");
            return ExitCode::FAILURE;
        }
    };
    let install = match node::install().await {
        Ok(install) => install,
        Err(e) => {
            t.failure(&format!("agentnet demo: FAILED installing agentnet: {e:#}"));
            stop_cluster(cp);
            return ExitCode::FAILURE;
        }
    };
    let mut demo = Demo::new(cp, install, t);
    let report = demo::run(&mut demo).await;
    let keep = std::env::var_os("AGENTNET_DEMO_KEEP").is_some();
    if keep {
        demo.t.say(&format!(
            "cluster kept (AGENTNET_DEMO_KEEP): KUBECONFIG={}",
            cp.kubeconfig.display()
        ));
        demo.t.say(&format!(
            "stop it with: AGENTNET_CLUSTER_DIR={} hack/cluster.sh down",
            cluster_dir(cp).display()
        ));
    } else {
        demo.t.shows("hack/cluster.sh down     # the node's pods, processes, mounts, iptables chains, bridge and sysctls");
        let stopped = stop_cluster(cp);
        demo.t.say(if stopped {
            "cluster stopped; the machine is as it was"
        } else {
            "the cluster's teardown failed"
        });
    }
    let elapsed = started.elapsed().as_secs();
    let ok = report.ok;
    if ok {
        demo.t.success(&format!(
            "agentnet demo: every expected outcome happened ({} checks, {elapsed}s)",
            demo.t.passed()
        ));
    } else {
        demo.t.failure(&format!(
            "agentnet demo: FAILED ({} of {} checks failed, {elapsed}s)",
            demo.t.failed(),
            demo.t.checks.len()
        ));
    }
    if let Some(path) = std::env::var_os("AGENTNET_DEMO_REPORT") {
        let mut report = report;
        report.transcript = demo.t.plain().to_owned();
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, json) {
            eprintln!("writing the report: {e}");
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `hack/cluster.sh down` of the cluster this process started; whether it succeeded.
fn stop_cluster(cp: &agentnet_e2e::ControlPlane) -> bool {
    let Some(dir) = &cp.state_dir else {
        return true;
    };
    std::process::Command::new(repo_root().join("hack/cluster.sh"))
        .arg("down")
        .env("AGENTNET_CLUSTER_DIR", dir)
        .status()
        .is_ok_and(|s| s.success())
}
