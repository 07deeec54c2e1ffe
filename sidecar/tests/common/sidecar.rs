//! The sidecar under test: in-process (`app::start`) or the built binary, with a
//! temporary `--config-dir` and listeners on 127.0.0.1:0.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use agentnet_sidecar::app::{self, Running};
use agentnet_sidecar::config::Cli;
use clap::Parser;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use super::eventually;
use super::http::get;

/// The agent's identity in every test: ServiceAccount agents/agent.
pub const IDENTITY: &[&str] = &["--namespace", "agents", "--service-account", "agent"];

pub struct Sidecar {
    pub outbound: SocketAddr,
    pub admin: SocketAddr,
    pub dir: TempDir,
    running: Option<Running>,
}

impl Sidecar {
    /// Writes `manifests` to `policy.yaml` and starts the sidecar in-process with
    /// `args` after the defaults; returns once `/ready`.
    pub async fn start(manifests: &str, args: &[&str]) -> Sidecar {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.yaml"), manifests).unwrap();
        let dir_arg = dir.path().to_str().unwrap().to_owned();
        let mut all = vec!["--config-dir", dir_arg.as_str()];
        all.extend_from_slice(args);
        let sidecar = Self::start_in(dir, &all).await;
        sidecar.wait_ready().await;
        sidecar
    }

    /// Starts with exactly `args` after the listeners and identity; does not wait.
    pub async fn start_in(dir: TempDir, args: &[&str]) -> Sidecar {
        let mut all = vec![
            "agentnet-sidecar",
            "--outbound-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
        ];
        all.extend_from_slice(&[
            "--config-poll-interval",
            "50ms",
            "--drain-timeout",
            "2s",
            "--audit",
            "false",
        ]);
        all.extend_from_slice(IDENTITY);
        all.extend_from_slice(args);
        let running = app::start(Cli::try_parse_from(all).unwrap().run)
            .await
            .unwrap();
        Sidecar {
            outbound: running.outbound_addr,
            admin: running.admin_addr,
            dir,
            running: Some(running),
        }
    }

    pub async fn wait_ready(&self) {
        let admin = self.admin;
        eventually(
            "the sidecar to be ready",
            Duration::from_secs(10),
            || async move { get(admin, "/ready").await.status.is_success().then_some(()) },
        )
        .await;
    }

    /// `http://127.0.0.1:<outbound>`: the HTTP_PROXY value.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.outbound)
    }

    /// `http://127.0.0.1:<outbound>/backends/<ns>/<name><rest>`.
    pub fn backend_url(&self, ns: &str, name: &str, rest: &str) -> String {
        format!("http://{}/backends/{ns}/{name}{rest}", self.outbound)
    }

    pub fn generation(&self) -> u64 {
        self.running.as_ref().map_or(0, |r| r.policy.generation())
    }

    /// Replaces `policy.yaml` and waits until the sidecar has published it.
    pub async fn rewrite(&self, manifests: &str) {
        let before = self.generation();
        std::fs::write(self.dir.path().join("policy.yaml"), manifests).unwrap();
        eventually(
            "the new policy to be published",
            Duration::from_secs(10),
            || async { (self.generation() > before).then_some(()) },
        )
        .await;
    }

    pub async fn metrics(&self) -> String {
        get(self.admin, "/metrics").await.text()
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.unwrap();
        }
    }
}

/// The built binary, with its stdout (the audit log) captured.
pub struct SidecarProcess {
    pub child: Child,
    pub outbound: SocketAddr,
    pub admin: SocketAddr,
    pub stdout: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl SidecarProcess {
    pub async fn start(config_dir: &Path, args: &[&str]) -> SidecarProcess {
        let (outbound, admin) = (free_port(), free_port());
        let mut child = Command::new(env!("CARGO_BIN_EXE_agentnet-sidecar"))
            .args([
                "--outbound-addr",
                &outbound.to_string(),
                "--admin-addr",
                &admin.to_string(),
            ])
            .args([
                "--config-dir",
                config_dir.to_str().unwrap(),
                "--config-poll-interval",
                "50ms",
                "--log",
                "warn",
            ])
            .args(IDENTITY)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let process = SidecarProcess {
            child,
            outbound,
            admin,
            stdout,
        };
        eventually(
            "the sidecar binary to be ready",
            Duration::from_secs(20),
            || async move {
                tokio::net::TcpStream::connect(admin).await.ok()?;
                get(admin, "/ready").await.status.is_success().then_some(())
            },
        )
        .await;
        process
    }

    /// Sends a signal to this child by its pid.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-s", signal, &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
