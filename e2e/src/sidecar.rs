//! agentnet-sidecar against a real API server: a private control plane (so a test may
//! stop it without disturbing the shared one), the sidecar binary as a local process
//! with a kubeconfig, the Python MCP peer, and plain HTTP/1.0 through the sidecar.
//!
//! The binary is built once with `cargo build -p agentnet-sidecar` (the artifact path
//! is read from cargo's JSON messages); `AGENTNET_SIDECAR_BIN` names a prebuilt one.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::repo_root;

/// An etcd and kube-apiserver of this test's own (`hack/cluster.sh` in a temporary
/// directory), stopped by `down` or when dropped.
pub struct PrivateControlPlane {
    pub kubeconfig: PathBuf,
    bin_dir: PathBuf,
    dir: TempDir,
}

/// A child process killed (by its pid) when dropped.
pub struct Process {
    pub child: Child,
}

/// An HTTP response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();

impl PrivateControlPlane {
    pub fn up() -> Result<Self> {
        let hack = repo_root().join("hack");
        let bin_dir = PathBuf::from(last_line(Command::new(hack.join("testbin.sh")))?);
        let dir = tempfile::Builder::new()
            .prefix("agentnet-e2e-private-")
            .tempdir()?;
        let mut up = Command::new(hack.join("cluster.sh"));
        up.arg("up").env("AGENTNET_CLUSTER_DIR", dir.path());
        let kubeconfig = PathBuf::from(last_line(up)?);
        reap_at_exit(dir.path())?;
        Ok(PrivateControlPlane {
            kubeconfig,
            bin_dir,
            dir,
        })
    }

    /// Stops etcd and the API server (idempotent).
    pub fn down(&self) -> Result<()> {
        self.cluster_sh(&["down"])
    }

    /// SIGKILLs the API server; etcd keeps running (`hack/cluster.sh apiserver kill`).
    pub fn kill_apiserver(&self) -> Result<()> {
        self.cluster_sh(&["apiserver", "kill"])
    }

    /// Starts the API server again on the same port and waits until it is ready.
    pub fn start_apiserver(&self) -> Result<()> {
        self.cluster_sh(&["apiserver", "start"])
    }

    fn cluster_sh(&self, args: &[&str]) -> Result<()> {
        let status = Command::new(repo_root().join("hack/cluster.sh"))
            .args(args)
            .env("AGENTNET_CLUSTER_DIR", self.dir.path())
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("running cluster.sh {args:?}"))?;
        if !status.success() {
            bail!("hack/cluster.sh {args:?} failed with {status}");
        }
        Ok(())
    }

    /// A client for this control plane.
    pub async fn client(&self) -> Result<kube::Client> {
        use kube::config::{Config, KubeConfigOptions, Kubeconfig};
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// `kubectl` against this control plane, with `stdin` if given.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<Output> {
        use std::io::Write;
        let mut cmd = Command::new(self.bin_dir.join("kubectl"));
        cmd.args(args).env("KUBECONFIG", &self.kubeconfig);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("starting kubectl")?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())?;
        }
        let out = child.wait_with_output().context("running kubectl")?;
        if !out.status.success() {
            bail!("kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(out)
    }

    /// Applies the chart's CRDs and waits until they are Established.
    pub fn install_crds(&self) -> Result<()> {
        let crds = repo_root().join("charts/agentnet/crds");
        self.kubectl(
            &["apply", "--server-side", "-f", &crds.to_string_lossy()],
            None,
        )?;
        let names = [
            "crd/xbackends.agentic.networking.x-k8s.io",
            "crd/xaccesspolicies.agentic.networking.x-k8s.io",
        ];
        let mut args = vec!["wait", "--for", "condition=established", "--timeout=60s"];
        args.extend(names);
        self.kubectl(&args, None).map(drop)
    }
}

impl Drop for PrivateControlPlane {
    fn drop(&mut self) {
        let _ = self.down();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The agentnet-sidecar binary: `AGENTNET_SIDECAR_BIN`, or built once by cargo.
pub fn sidecar_binary() -> Result<PathBuf> {
    let built = BINARY.get_or_init(|| match std::env::var_os("AGENTNET_SIDECAR_BIN") {
        Some(path) => Ok(PathBuf::from(path)),
        None => build_sidecar().map_err(|e| format!("{e:#}")),
    });
    built
        .clone()
        .map_err(|e| anyhow::anyhow!("building agentnet-sidecar: {e}"))
}

fn build_sidecar() -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let args = [
        "build",
        "-p",
        "agentnet-sidecar",
        "--bin",
        "agentnet-sidecar",
        "--message-format=json-render-diagnostics",
    ];
    let out = Command::new(cargo)
        .args(args)
        .current_dir(repo_root())
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("cargo build -p agentnet-sidecar failed with {}", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let messages = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok());
    let mut artifacts = messages.filter(|m| {
        m["reason"] == "compiler-artifact" && m["target"]["name"] == "agentnet-sidecar"
    });
    artifacts
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo reported no agentnet-sidecar executable")
}

/// Starts the sidecar with `args` (after free listener addresses, which it returns).
pub fn start_sidecar(args: &[&str], log: &Path) -> Result<(Process, SocketAddr, SocketAddr)> {
    let (outbound, admin) = (free_addr()?, free_addr()?);
    let file = std::fs::File::create(log)?;
    let mut cmd = Command::new(sidecar_binary()?);
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("AGENTNET_")) {
        cmd.env_remove(name);
    }
    cmd.args([
        "--outbound-addr",
        &outbound.to_string(),
        "--admin-addr",
        &admin.to_string(),
    ])
    .args(args);
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    let child = cmd.spawn().context("starting agentnet-sidecar")?;
    Ok((Process { child }, outbound, admin))
}

/// `hack/peers/mcp_server.py ARGS…` (real PyPI `mcp`), and the port it printed.
pub fn start_mcp_server(args: &[&str]) -> Result<(Process, u16)> {
    let peers = peers_dir()?;
    let mut cmd = Command::new(peers.join("venv/bin/python"));
    cmd.arg(repo_root().join("hack/peers/mcp_server.py"))
        .args(args)
        .env("PYTHONWARNINGS", "ignore");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting mcp_server.py")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .with_context(|| format!("unexpected {line:?}"))?
        .parse()?;
    Ok((Process { child }, port))
}

/// The directory `hack/peers.sh` installed the MCP and A2A peers into.
pub fn peers_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("AGENTNET_PEERS") {
        return Ok(dir.into());
    }
    last_line(Command::new(repo_root().join("hack/peers.sh"))).map(PathBuf::from)
}

/// This machine's non-loopback IPv4 address (EndpointSlices may not hold loopback ones).
pub fn host_ip() -> Result<String> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    // Connecting a UDP socket sends nothing; it only picks the outgoing address.
    socket
        .connect("10.255.255.255:1")
        .context("no route to pick a host address")?;
    let ip = socket.local_addr()?.ip();
    if ip.is_loopback() || ip.is_unspecified() {
        bail!("no non-loopback IPv4 address ({ip})");
    }
    Ok(ip.to_string())
}

/// One HTTP/1.0 request (so the reply is never chunked) to `addr`.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    host: &str,
    body: &str,
) -> Result<Reply> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let head = format!(
        "{method} {target} HTTP/1.0\r\nhost: {host}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: {}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(mcp_headers(body).as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").context("no end of headers")?;
    let status = head.split(' ').nth(1).context("no status")?.parse()?;
    Ok(Reply {
        status,
        body: body.to_owned(),
    })
}

/// The 2026-07-28 routing headers a tools/call body needs, then the end of the head.
fn mcp_headers(body: &str) -> String {
    let parsed: Value = serde_json::from_str(body).unwrap_or_default();
    let (Some(method), Some(name)) = (parsed["method"].as_str(), parsed["params"]["name"].as_str())
    else {
        return "\r\n".into();
    };
    format!("mcp-protocol-version: 2026-07-28\r\nmcp-method: {method}\r\nmcp-name: {name}\r\n\r\n")
}

/// A 2026-07-28 `tools/call` of `tool` with `arguments`.
pub fn tool_call(tool: &str, arguments: Value) -> String {
    let meta = serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let params = serde_json::json!({"name": tool, "arguments": arguments, "_meta": meta});
    serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
        .to_string()
}

fn free_addr() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn last_line(mut cmd: Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed with {}", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .last()
        .map(|l| l.trim().to_owned())
        .with_context(|| format!("{cmd:?} printed nothing"))
}

/// Stops the control plane in `dir` once this test process is gone, however it ends.
fn reap_at_exit(dir: &Path) -> Result<()> {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; AGENTNET_CLUSTER_DIR='{dir}' '{down}' down >/dev/null 2>&1",
        pid = std::process::id(),
        dir = dir.display(),
        down = repo_root().join("hack/cluster.sh").display(),
    );
    let mut cmd = Command::new("setsid");
    cmd.args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.spawn()
        .context("spawning the control-plane reaper (setsid)")
        .map(drop)
}
