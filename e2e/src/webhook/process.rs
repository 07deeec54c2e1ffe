//! The agentnet-webhook process: built once, started with the chart's environment,
//! and killed when the test process exits.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::repo_root;

static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The local listeners, all on 127.0.0.1.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ports {
    pub webhook: u16,
    pub metrics: u16,
    pub identity: u16,
    pub debug: u16,
}

impl Ports {
    /// Four ports free right now.
    pub fn free() -> Result<Self> {
        Ok(Self {
            webhook: free_port()?,
            metrics: free_port()?,
            identity: free_port()?,
            debug: free_port()?,
        })
    }
}

pub(super) fn spawn(
    env: &[(String, String)],
    ports: Ports,
    kubeconfig: &Path,
    log: &Path,
) -> Result<Child> {
    let binary = webhook_binary()?;
    let file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut cmd = Command::new(&binary);
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("AGENTNET_")) {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env(
            "AGENTNET_LISTEN_ADDR",
            format!("127.0.0.1:{}", ports.webhook),
        )
        .env(
            "AGENTNET_METRICS_ADDR",
            format!("127.0.0.1:{}", ports.metrics),
        )
        .env(
            "AGENTNET_IDENTITY_LISTEN_ADDR",
            format!("127.0.0.1:{}", ports.identity),
        )
        .env("AGENTNET_DEBUG_ADDR", format!("127.0.0.1:{}", ports.debug))
        .env("AGENTNET_KUBECONFIG", kubeconfig)
        .env("AGENTNET_LOG_FORMAT", "plain")
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    cmd.spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

/// The agentnet-webhook binary: `AGENTNET_WEBHOOK_BIN`, or built once by cargo.
pub fn webhook_binary() -> Result<PathBuf> {
    let built = BINARY.get_or_init(|| match std::env::var_os("AGENTNET_WEBHOOK_BIN") {
        Some(path) => Ok(PathBuf::from(path)),
        None => build_webhook().map_err(|e| format!("{e:#}")),
    });
    built
        .clone()
        .map_err(|e| anyhow::anyhow!("building agentnet-webhook: {e}"))
}

fn build_webhook() -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "-p",
            "agentnet-webhook",
            "--bin",
            "agentnet-webhook",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(repo_root())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build -p agentnet-webhook")?;
    if !out.status.success() {
        bail!("cargo build -p agentnet-webhook failed with {}", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let executable = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "agentnet-webhook")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from));
    executable.context("cargo reported no agentnet-webhook executable")
}

/// Six random digits, for names that must not collide with earlier runs.
pub fn random_suffix() -> String {
    use rand::Rng;
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// A TCP port free right now on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Kills process `pid` once this test process is gone, however it ends.
pub(super) fn reap_at_exit(pid: u32) -> Result<()> {
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; kill {pid} 2>/dev/null",
        parent = std::process::id()
    );
    Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("spawning the webhook reaper (setsid)")?;
    Ok(())
}
