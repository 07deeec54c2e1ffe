//! The policy-distribution scale benchmark (`hack/scale.sh`; results in BENCHMARKS.md),
//! side by side in one run: the control plane's policy service against the opt-in
//! direct-watch mode, on a private control plane.
//!
//! 1. 100 XBackends (each with its Service and a 10-endpoint EndpointSlice) and one
//!    policy each, 200 ServiceAccounts; the webhook (release build) from the chart.
//! 2. One real sidecar in each mode: RSS once synced ("empty": only the backends).
//! 3. 200 stream clients with distinct identities (real TokenRequest tokens, the
//!    sidecar's protocol): API-server watch count and webhook RSS/CPU with and without
//!    them.
//! 4. 2,000 Services and 2,000 EndpointSlices (10 endpoints each) that no policy names:
//!    the sidecars' RSS again, and the views pushed to the 200 clients (target 0).
//! 5. Propagation: 10 changes to a rule every identity sees (one policy, applied
//!    alone); time from `kubectl apply`
//!    to each of the 200 clients holding the new view (p50/p99), plus the delay until
//!    the control-plane sidecar enforces it.
//!
//! Prints one JSON object.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentnet_e2e::identity::{PolicyStream, token, trust_bundle};
use agentnet_e2e::webhook::{LocalWebhook, shared};
use agentnet_e2e::{TestNs, control_plane, output_text};
use anyhow::{Context, Result, bail, ensure};
use serde_json::json;
use tokio::sync::Mutex;

const BACKENDS: usize = 100;
const CLIENTS: usize = 200;
const UNRELATED: usize = 2000;
const ENDPOINTS: usize = 10;
const CHANGES: usize = 10;

#[tokio::main]
async fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sidecar_bin =
        PathBuf::from(std::env::var("AGENTNET_SIDECAR_BIN").context(
            "AGENTNET_SIDECAR_BIN: the release agentnet-sidecar (hack/scale.sh sets it)",
        )?);
    let webhook = shared().await?;
    let ns = TestNs::with_labels("scale", &[("agentnet.dev/inject", "enabled")]).await?;
    for i in 0..CLIENTS {
        ns.create_service_account(&agent(i)).await?;
    }
    apply(&ns, &backends(&ns.name, "v0"))?;
    let bundle = trust_bundle(&ns.client, &ns.name).await?;
    let dir = tempfile_dir()?;
    std::fs::write(dir.join("bundle.pem"), &bundle)?;
    let token_file = dir.join("token");
    std::fs::write(
        &token_file,
        token(&ns.client, &ns.name, &agent(0), "agentnet").await?,
    )?;

    // 2. One sidecar per mode, before anything unrelated exists.
    let cp = Sidecar::control_plane(&sidecar_bin, webhook, &ns.name, &dir)?;
    let direct = Sidecar::direct(&sidecar_bin, &control_plane().kubeconfig, &ns.name, &dir)?;
    cp.wait_ready("tool-v0").await?;
    direct.wait_ready("tool-v0").await?;
    let watches_base = apiserver_watches(&ns).await?;
    let (cp_empty, direct_empty) = (rss_kb(cp.pid())?, rss_kb(direct.pid())?);
    let webhook_pid = webhook.pid().context("the webhook's pid")?;
    let (webhook_rss_before, cpu_before) = (rss_kb(webhook_pid)?, cpu_ticks(webhook_pid)?);

    // 3. 200 stream clients.
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let t = token(&ns.client, &ns.name, &agent(i), "agentnet").await?;
        let mut stream = PolicyStream::open(webhook.identity_port, &bundle, Some(&t), "").await?;
        ensure!(stream.status == 200, "client {i}: {}", stream.status);
        stream
            .next_view(Duration::from_secs(30))
            .await?
            .context("a first view")?;
        clients.push(Arc::new(Mutex::new(stream)));
    }
    let watches_clients = apiserver_watches(&ns).await?;
    let webhook_rss_clients = rss_kb(webhook_pid)?;

    // 4. The unrelated objects (after reading whatever the clients were sent so far).
    drain_views(&clients, Duration::from_secs(2)).await?;
    let started = Instant::now();
    for chunk in 0..(UNRELATED / 250) {
        apply(&ns, &unrelated(chunk * 250, 250))?;
    }
    let created = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let sent_before = views_sent(webhook)?;
    let pushed_create = drain_views(&clients, Duration::from_secs(3)).await?;
    // One more change to an unrelated EndpointSlice, with the clients listening.
    apply(&ns, &unrelated(0, 1).replace("[10.10", "[10.11"))?;
    let pushed_change = drain_views(&clients, Duration::from_secs(5)).await?;
    let sent_unrelated = views_sent(webhook)? - sent_before;
    let (cp_loaded, direct_loaded) = (rss_kb(cp.pid())?, rss_kb(direct.pid())?);
    let watches_loaded = apiserver_watches(&ns).await?;

    // 5. Propagation to every client and to the enforcing sidecar.
    let mut delays = Vec::new();
    let mut enforced = Vec::new();
    for c in 1..=CHANGES {
        let marker = format!("tool-v{c}");
        let started = Instant::now();
        apply(&ns, &first_policy(&ns.name, &format!("v{c}")))?;
        let waits = clients.iter().map(|client| {
            let (client, marker) = (client.clone(), marker.clone());
            tokio::spawn(async move {
                let mut s = client.lock().await;
                loop {
                    let view = s.next_view(Duration::from_secs(20)).await?;
                    let view = view.context("no view within 20 s")?;
                    if view.to_string().contains(&marker) {
                        return anyhow::Ok(started.elapsed());
                    }
                }
            })
        });
        let cp_wait = cp.wait_policy(&marker, started);
        let (each, cp_delay) = tokio::join!(futures::future::join_all(waits), cp_wait);
        for d in each {
            delays.push(d??);
        }
        enforced.push(cp_delay?);
    }
    let cpu_after = cpu_ticks(webhook_pid)?;
    let webhook_rss_after = rss_kb(webhook_pid)?;
    delays.sort();
    enforced.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pct = |v: &[Duration], p: f64| ms(v[((v.len() as f64 * p) as usize).min(v.len() - 1)]);
    let result = json!({
        "backends": BACKENDS, "clients": CLIENTS, "unrelated_services": UNRELATED,
        "unrelated_endpoint_slices": UNRELATED, "endpoints_per_slice": ENDPOINTS,
        "created_unrelated_seconds": created.as_secs_f64(),
        "sidecar_rss_kb": {
            "control_plane": {"empty": cp_empty, "loaded": cp_loaded},
            "direct_watch": {"empty": direct_empty, "loaded": direct_loaded},
        },
        "apiserver_watches": {
            "two_sidecars": watches_base, "plus_200_stream_clients": watches_clients,
            "after_unrelated_objects": watches_loaded,
        },
        "webhook": {
            "rss_kb_before_clients": webhook_rss_before, "rss_kb_with_clients": webhook_rss_clients,
            "rss_kb_after_all": webhook_rss_after,
            "cpu_seconds_clients_unrelated_and_changes": (cpu_after - cpu_before) as f64 / clk_tck(),
        },
        "views_pushed_for_unrelated": {
            "while_creating_4000_objects": pushed_create, "one_endpoint_slice_change": pushed_change,
            "webhook_counter_delta": sent_unrelated,
        },
        "propagation_ms_to_200_clients": {"samples": delays.len(), "p50": pct(&delays, 0.5), "p99": pct(&delays, 0.99), "max": pct(&delays, 1.0)},
        "propagation_ms_to_enforcing_sidecar": {"samples": enforced.len(), "p50": pct(&enforced, 0.5), "p99": pct(&enforced, 0.99)},
    });
    println!("{result}");
    drop((cp, direct));
    Ok(())
}

fn agent(i: usize) -> String {
    format!("agent-{i:03}")
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("agentnet-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn apply(ns: &TestNs, yaml: &str) -> Result<()> {
    let out = ns.apply_yaml(yaml)?;
    if !out.status.success() {
        bail!("kubectl apply: {}", output_text(&out));
    }
    Ok(())
}

/// 100 backends, each with its Service, a 10-endpoint slice and a policy admitting two
/// agents and (a rule every identity sees) any caller to `tool-<version>`.
fn backends(ns: &str, version: &str) -> String {
    let mut out = String::new();
    for b in 0..BACKENDS {
        let addresses: Vec<String> = (0..ENDPOINTS).map(|e| format!("10.240.{b}.{e}")).collect();
        let (a1, a2) = (agent((2 * b) % CLIENTS), agent((2 * b + 1) % CLIENTS));
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: mcp-{b}, namespace: {ns}}}\nspec: {{ports: [{{port: 8080}}]}}\n\
---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: mcp-{b}-1, namespace: {ns}, labels: {{kubernetes.io/service-name: mcp-{b}}}}}\naddressType: IPv4\nports: [{{port: 8080}}]\nendpoints: [{}]\n\
---\napiVersion: agentic.networking.x-k8s.io/v0alpha0\nkind: XBackend\nmetadata: {{name: mcp-{b}, namespace: {ns}}}\nspec: {{mcp: {{serviceName: mcp-{b}, port: 8080}}}}\n\
---\napiVersion: agentic.networking.x-k8s.io/v1alpha1\nkind: XAccessPolicy\nmetadata: {{name: mcp-{b}, namespace: {ns}}}\nspec:\n  targetRefs: [{{group: agentic.networking.x-k8s.io, kind: XBackend, name: mcp-{b}}}]\n  action: Allow\n  rules:\n  - name: first\n    source: {{type: ServiceAccount, serviceAccount: {{name: {a1}}}}}\n    authorization: {{type: Inline, mcp: {{methods: [{{name: tools/call, params: [sum, mul]}}]}}}}\n  - name: second\n    source: {{type: ServiceAccount, serviceAccount: {{name: {a2}}}}}\n    authorization: {{type: Inline, mcp: {{methods: [{{name: tools/call, params: [search]}}]}}}}\n  - name: anyone\n    authorization: {{type: Inline, mcp: {{methods: [{{name: tools/call, params: [tool-{version}]}}]}}}}\n",
            addresses.iter().map(|a| format!("{{addresses: [{a}]}}")).collect::<Vec<_>>().join(", ")
        ));
    }
    out
}

/// The first backend's policy alone, its sourceless rule admitting `tool-<version>`: a
/// change every identity's view shows (each sees every policy's sourceless rules).
fn first_policy(ns: &str, version: &str) -> String {
    let all = backends(ns, version);
    let start = all
        .find("kind: XAccessPolicy\nmetadata: {name: mcp-0,")
        .and_then(|i| all[..i].rfind("---"))
        .unwrap_or_default();
    let end = all[start + 3..]
        .find("---")
        .map_or(all.len(), |i| start + 3 + i);
    all[start..end].to_owned()
}

/// `count` Services and 10-endpoint EndpointSlices from `first` on, which no XBackend names.
fn unrelated(first: usize, count: usize) -> String {
    let mut out = String::new();
    for i in first..first + count {
        let addresses: Vec<String> = (0..ENDPOINTS)
            .map(|e| format!("{{addresses: [10.{}.{}.{}]}}", 100 + e, i / 250, i % 250))
            .collect();
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: other-{i}}}\nspec: {{ports: [{{port: 80}}]}}\n\
---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: other-{i}-1, labels: {{kubernetes.io/service-name: other-{i}}}}}\naddressType: IPv4\nports: [{{port: 80}}]\nendpoints: [{}]\n",
            addresses.join(", ")
        ));
    }
    out
}

/// Views (not heartbeats) the clients receive within `window`.
async fn drain_views(clients: &[Arc<Mutex<PolicyStream>>], window: Duration) -> Result<usize> {
    let deadline = Instant::now() + window;
    let counts = clients.iter().map(|c| {
        let c = c.clone();
        tokio::spawn(async move {
            let mut s = c.lock().await;
            let mut n = 0usize;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return anyhow::Ok(n);
                }
                match s.next(left).await? {
                    Some(m) if m["type"] == "view" => n += 1,
                    Some(_) => {}
                    None => return Ok(n),
                }
            }
        })
    });
    let mut total = 0;
    for n in futures::future::join_all(counts).await {
        total += n??;
    }
    Ok(total)
}

async fn apiserver_watches(ns: &TestNs) -> Result<f64> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = ns.client.request_text(request).await?;
    Ok(text
        .lines()
        .filter(|l| {
            l.starts_with("apiserver_longrunning_requests{") && l.contains("verb=\"WATCH\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

fn views_sent(webhook: &LocalWebhook) -> Result<f64> {
    let (_, text) = webhook.admin_get("/metrics")?;
    text.lines()
        .find(|l| l.starts_with("agentnet_webhook_policy_views_sent_total "))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .context("agentnet_webhook_policy_views_sent_total")
}

fn rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS")
}

fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').context("stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime: fields 14 and 15 of stat, 12 and 13 after the command.
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A release sidecar process, killed on drop.
struct Sidecar {
    child: Child,
    admin: u16,
    ns: String,
}

impl Sidecar {
    fn control_plane(bin: &Path, webhook: &LocalWebhook, ns: &str, dir: &Path) -> Result<Self> {
        let url = format!("https://127.0.0.1:{}", webhook.identity_port);
        Self::spawn(
            bin,
            "cp",
            ns,
            dir,
            &[
                "--policy-url",
                &url,
                "--identity-url",
                &url,
                "--namespace",
                ns,
                "--service-account",
                &agent(0),
                "--token-file",
                &dir.join("token").to_string_lossy(),
                "--trust-bundle-file",
                &dir.join("bundle.pem").to_string_lossy(),
                "--inbound-addr",
                "127.0.0.1:0",
            ],
        )
    }

    fn direct(bin: &Path, kubeconfig: &Path, ns: &str, dir: &Path) -> Result<Self> {
        Self::spawn(
            bin,
            "direct",
            ns,
            dir,
            &[
                "--kubeconfig",
                &kubeconfig.to_string_lossy(),
                "--namespace",
                ns,
                "--service-account",
                &agent(0),
            ],
        )
    }

    fn spawn(bin: &Path, name: &str, ns: &str, dir: &Path, args: &[&str]) -> Result<Self> {
        let (admin, outbound) = (
            agentnet_e2e::webhook::free_port()?,
            agentnet_e2e::webhook::free_port()?,
        );
        let log = std::fs::File::create(dir.join(format!("sidecar-{name}.log")))?;
        let child = Command::new(bin)
            .args(args)
            .args([
                "--admin-addr",
                &format!("127.0.0.1:{admin}"),
                "--outbound-addr",
                &format!("127.0.0.1:{outbound}"),
                "--log",
                "warn",
            ])
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(Self {
            child,
            admin,
            ns: ns.to_owned(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the sidecar's policy in force admits its agent's call of `tool` on the
    /// first backend (`/explain`, decided by the compiled index itself).
    async fn allows(&self, tool: &str) -> bool {
        let path = format!(
            "/explain?backend={}/mcp-0&method=tools/call&tool={tool}",
            self.ns
        );
        agentnet_e2e::http_get(&format!("127.0.0.1:{}", self.admin), &path)
            .await
            .is_ok_and(|text| text.contains("\nALLOW:"))
    }

    /// Ready and admitting `tool`.
    async fn wait_ready(&self, tool: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !self.allows(tool).await {
            ensure!(
                Instant::now() < deadline,
                "sidecar on :{} never admitted {tool}",
                self.admin
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Time from `started` until the sidecar enforces a policy admitting `tool`.
    async fn wait_policy(&self, tool: &str, started: Instant) -> Result<Duration> {
        let deadline = started + Duration::from_secs(20);
        while !self.allows(tool).await {
            ensure!(
                Instant::now() < deadline,
                "the sidecar never admitted {tool}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(started.elapsed())
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
