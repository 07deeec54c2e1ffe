//! Policy propagation delay: how long after `kubectl apply` a running sidecar (watching
//! a real API server) decides requests by the new policy. Each change flips whether
//! the benchmark agent may call `tool-007`; the tool polls through the sidecar on one
//! keep-alive connection until the decision flips, and reports the delay measured from
//! kubectl's start and from its exit.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

use agentnet_bench::{ALLOWED_TOOL, Scenario};

#[derive(Parser, Debug)]
#[command(about = "Measure kubectl apply -> enforcement delay through a sidecar")]
struct Args {
    #[arg(long)]
    kubectl: PathBuf,
    #[arg(long)]
    kubeconfig: PathBuf,
    /// The sidecar's outbound listener.
    #[arg(long)]
    proxy: SocketAddr,
    /// Absolute URL of the benchmark XBackend, e.g. http://mcp-json.bench:8080/mcp.
    #[arg(long)]
    target: hyper::Uri,
    #[arg(long, default_value_t = 20)]
    changes: usize,
    /// Give up on one change after this long.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.proxy.ip().is_loopback(),
        "--proxy must be a loopback address"
    );
    let mut conn = connect(args.proxy).await?;
    let (mut from_start, mut from_exit) = (Vec::new(), Vec::new());
    for i in 0..args.changes {
        let allow = i % 2 == 0;
        let started = Instant::now();
        apply(&args, allow)?;
        let exited = Instant::now();
        let flipped = wait_for(&args, &mut conn, allow, started).await?;
        from_start.push(flipped - started);
        from_exit.push(flipped.saturating_duration_since(exited));
    }
    println!(
        "{}",
        json!({"changes": args.changes, "from_kubectl_start_ms": summary(&mut from_start),
            "from_kubectl_exit_ms": summary(&mut from_exit)})
    );
    Ok(())
}

fn summary(samples: &mut [Duration]) -> serde_json::Value {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    json!({"p50": at(0.50), "p99": at(0.99), "max": at(1.0)})
}

/// The policy in force on the benchmark backend: `tool-007` allowed or not.
fn apply(args: &Args, allow: bool) -> Result<()> {
    let tool = if allow { ALLOWED_TOOL } else { "tool-008" };
    let manifest = format!(
        "apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {{name: propagation, namespace: bench}}
spec:
  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp-json}}]
  action: Allow
  rules:
  - name: agent
    source: {{type: ServiceAccount, serviceAccount: {{name: agent}}}}
    authorization:
      type: Inline
      mcp: {{methods: [{{name: tools/call, params: [{tool}]}}]}}
"
    );
    let mut child = Command::new(&args.kubectl)
        .args(["apply", "-f", "-"])
        .env("KUBECONFIG", &args.kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("starting kubectl")?;
    child
        .stdin
        .take()
        .context("kubectl stdin")?
        .write_all(manifest.as_bytes())?;
    ensure!(child.wait()?.success(), "kubectl apply failed");
    Ok(())
}

async fn wait_for(
    args: &Args,
    conn: &mut SendRequest<Full<Bytes>>,
    allow: bool,
    since: Instant,
) -> Result<Instant> {
    loop {
        if call_allowed(args, conn).await? == allow {
            return Ok(Instant::now());
        }
        if since.elapsed() > args.timeout {
            bail!(
                "the decision did not flip to allowed={allow} within {:?}",
                args.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn call_allowed(args: &Args, conn: &mut SendRequest<Full<Bytes>>) -> Result<bool> {
    if conn.is_closed() {
        *conn = connect(args.proxy).await?;
    }
    conn.ready().await?;
    let req = Request::post(args.target.to_string())
        .header(
            header::HOST,
            args.target
                .authority()
                .map(|a| a.as_str())
                .unwrap_or_default(),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, Scenario::ToolsCall.accept())
        .body(Full::new(Bytes::from(Scenario::ToolsCall.body())))?;
    let resp = conn.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    let denied = body.windows(7).any(|w| w == b"\"error\"");
    ensure!(status == 200, "unexpected status {status}");
    Ok(!denied)
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .context("connecting to the sidecar")?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}
