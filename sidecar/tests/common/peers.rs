//! The real MCP and A2A peers, installed by `hack/peers.sh` (or found at
//! `$AGENTNET_PEERS`), and the peer programs in `hack/peers/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The peers directory (`venv/`, `node/`), installed once per test process.
pub fn peers_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("AGENTNET_PEERS") {
            return dir.into();
        }
        let out = std::process::Command::new(repo_root().join("hack/peers.sh"))
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "hack/peers.sh failed");
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

fn python() -> PathBuf {
    peers_dir().join("venv/bin/python")
}

fn script(name: &str) -> PathBuf {
    repo_root().join("hack/peers").join(name)
}

/// A peer server process, killed when dropped.
pub struct Peer {
    pub port: u16,
    _child: Child,
}

impl Peer {
    /// Starts `hack/peers/<script>` and waits for its `PORT <n>` line.
    pub async fn python(name: &str, args: &[&str]) -> Peer {
        let mut child = Command::new(python())
            .arg(script(name))
            .args(args)
            .env("PYTHONWARNINGS", "ignore")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("peer start timed out")
            .unwrap()
            .unwrap();
        let port = line
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Peer {
            port,
            _child: child,
        }
    }

    /// `@modelcontextprotocol/server-everything` (streamableHttp) on a free port.
    pub async fn everything() -> Peer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let node = peers_dir().join("node");
        let child = Command::new("node")
            .arg(node.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js"))
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .current_dir(&node)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}");
        super::eventually(
            "server-everything to listen",
            Duration::from_secs(30),
            || async { tokio::net::TcpStream::connect(&addr).await.ok() },
        )
        .await;
        Peer {
            port,
            _child: child,
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// The peer's request counters (`GET /stats`), read directly, not through the sidecar.
    pub async fn stats(&self) -> Value {
        super::http::get(self.addr(), "/stats").await.json()
    }
}

/// Runs a Python peer client to completion and parses the JSON it prints.
async fn run_client(name: &str, args: &[&str], proxy: Option<&str>) -> Value {
    let mut cmd = Command::new(python());
    cmd.arg(script(name))
        .args(args)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .kill_on_drop(true);
    match proxy {
        Some(p) => cmd.env("HTTP_PROXY", p).env("http_proxy", p),
        None => cmd.env_remove("HTTP_PROXY").env_remove("http_proxy"),
    };
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("client timed out")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| {
        panic!(
            "{name} printed nothing; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{name} output {line:?}: {e}"))
}

/// `hack/peers/mcp_client.py URL --mode MODE OPS…`, through `proxy` if given.
pub async fn mcp_client(url: &str, mode: &str, proxy: Option<&str>, ops: &[&str]) -> Value {
    let mut args = vec![url, "--mode", mode];
    args.extend_from_slice(ops);
    run_client("mcp_client.py", &args, proxy).await
}

/// `hack/peers/a2a_client.py URL ARGS…`, through `proxy` if given.
pub async fn a2a_client(url: &str, args: &[&str], proxy: Option<&str>) -> Value {
    let mut all = vec![url];
    all.extend_from_slice(args);
    run_client("a2a_client.py", &all, proxy).await
}

/// The result of operation `i` of an `mcp_client` run, asserting it succeeded.
pub fn ok(out: &Value, i: usize) -> &Value {
    let r = &out["results"][i];
    assert_eq!(r["ok"], true, "operation {i} failed: {out}");
    &r["result"]
}

/// The error of operation `i`, asserting it failed.
pub fn err(out: &Value, i: usize) -> &Value {
    let r = &out["results"][i];
    assert_eq!(r["ok"], false, "operation {i} succeeded: {out}");
    &r["error"]
}
