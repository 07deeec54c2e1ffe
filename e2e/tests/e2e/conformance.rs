//! Transparency proof: the official MCP conformance suite's server scenarios
//! (`@modelcontextprotocol/conformance` 0.1.13) against `@modelcontextprotocol/server-everything`,
//! once directly and once through agentnet-sidecar with an allow-all policy. Many
//! scenarios fail even directly (the suite expects its own test server); the point is
//! that every scenario's result is the same both ways.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agentnet_e2e::sidecar::{peers_dir, start_sidecar};
use anyhow::{Context, Result, bail};

/// A scenario's (passed, failed) check counts, by name.
type Results = BTreeMap<String, (u32, u32)>;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn conformance_results_are_identical_directly_and_through_the_sidecar() {
    let node = peers_dir().unwrap().join("node");
    let port = free_port();
    let _server = start_everything(&node, port).unwrap();

    let direct = run_suite(&node, &format!("http://127.0.0.1:{port}/mcp")).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("everything.yaml"), manifests(port)).unwrap();
    let config = dir.path().to_string_lossy().to_string();
    let log = dir.path().join("sidecar.log");
    let args = [
        "--config-dir",
        &config,
        "--namespace",
        "agents",
        "--service-account",
        "tester",
    ];
    let (_sidecar, outbound, admin) = start_sidecar(&args, &log).unwrap();
    wait_ready(admin).await.unwrap();
    let url = format!("http://{outbound}/backends/demo/everything/mcp");
    let proxied = run_suite(&node, &url).unwrap();

    eprintln!("| scenario | direct (passed/failed) | through agentnet-sidecar |");
    for (name, d) in &direct {
        let p = proxied.get(name).copied().unwrap_or_default();
        eprintln!("| {name} | {}/{} | {}/{} |", d.0, d.1, p.0, p.1);
    }
    assert!(direct.len() >= 25, "too few scenarios ran: {direct:?}");
    assert!(
        direct.values().any(|r| r.0 > 0),
        "no scenario passed directly: {direct:?}"
    );
    assert_eq!(direct, proxied, "the sidecar changed conformance results");
    // The suite really went through the sidecar, every call allowed by the policy.
    let metrics = admin_get(admin, "/metrics").await.unwrap();
    let allowed = metrics
        .lines()
        .filter(|l| {
            l.starts_with("agentnet_requests_total{backend=\"demo/everything\"")
                && l.contains("decision=\"allow\"")
        })
        .count();
    assert!(allowed >= 10, "the sidecar saw too few methods:\n{metrics}");
    assert!(
        !metrics.contains("decision=\"deny\""),
        "an allow-all policy denied something:\n{metrics}"
    );
}

fn manifests(port: u16) -> String {
    format!(
        "apiVersion: agentic.networking.x-k8s.io/v0alpha0
kind: XBackend
metadata: {{name: everything, namespace: demo}}
spec:
  mcp: {{serviceName: everything, port: 3001}}
---
apiVersion: v1
kind: Service
metadata: {{name: everything, namespace: demo}}
spec:
  ports: [{{name: http, port: 3001, targetPort: {port}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: everything-1, namespace: demo, labels: {{kubernetes.io/service-name: everything}}}}
addressType: IPv4
ports: [{{name: http, port: {port}}}]
endpoints: [{{addresses: [\"127.0.0.1\"], conditions: {{ready: true}}}}]
---
apiVersion: agentic.networking.x-k8s.io/v1alpha1
kind: XAccessPolicy
metadata: {{name: allow-all, namespace: demo}}
spec:
  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: everything}}]
  action: Allow
  rules:
  - name: anyone-anything
"
    )
}

fn start_everything(node: &Path, port: u16) -> Result<Killed> {
    let entry = node.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let child = Command::new("node")
        .arg(entry)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting server-everything (node)")?;
    let server = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("server-everything did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(server)
}

/// Runs the active server suite and parses its summary lines
/// (`✓ name: 1 passed, 0 failed`).
fn run_suite(node: &Path, url: &str) -> Result<Results> {
    let out = Command::new(node.join("node_modules/.bin/conformance"))
        .args(["server", "--url", url])
        .current_dir(node)
        .output()
        .context("running the conformance suite")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text
        .split("=== SUMMARY ===")
        .nth(1)
        .with_context(|| format!("no summary:\n{text}"))?;
    let mut results = Results::new();
    for line in summary.lines() {
        let Some((name, counts)) = line.trim_start_matches(['✓', '✗', ' ']).split_once(": ")
        else {
            continue;
        };
        let nums: Vec<u32> = counts
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        if let ([passed, failed], false) = (&nums[..], name == "Total") {
            results.insert(name.to_owned(), (*passed, *failed));
        }
    }
    Ok(results)
}

async fn wait_ready(admin: std::net::SocketAddr) -> Result<()> {
    agentnet_e2e::eventually(
        "the sidecar to be ready",
        Duration::from_secs(30),
        || async {
            Ok(admin_get(admin, "/ready")
                .await
                .ok()
                .filter(|b| b.contains("ready"))
                .map(|_| ()))
        },
    )
    .await
}

async fn admin_get(admin: std::net::SocketAddr, path: &str) -> Result<String> {
    let reply = agentnet_e2e::sidecar::http(admin, "GET", path, &admin.to_string(), "").await?;
    if reply.status != 200 {
        bail!("GET {path}: {}", reply.status);
    }
    Ok(reply.body)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
