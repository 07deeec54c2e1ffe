//! Harness for agentnet's end-to-end tests: a real kube-apiserver and etcd (see
//! `control_plane`), a fresh namespace per test, the built kubectl and helm, and
//! bounded polling.

pub mod control_plane;
pub mod crds;
pub mod demo;
pub mod identity;
pub mod node;
pub mod pods;
pub mod sidecar;
pub mod webhook;
pub mod workloads;

use std::future::Future;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use control_plane::{ControlPlane, control_plane, repo_root};

/// Label put on every namespace the harness creates.
pub const E2E_LABEL: &str = "agentnet.dev/e2e";

/// A client for the shared control plane. Each test makes its own, because a
/// client's connections belong to the runtime that created them.
pub async fn client() -> Result<Client> {
    control_plane().client().await
}

/// Runs the built `kubectl` against the control plane.
pub fn kubectl(args: &[&str]) -> Result<Output> {
    control_plane().kubectl(args)
}

/// Runs `kubectl` with `stdin` as its standard input (for `apply -f -`).
pub fn kubectl_stdin(args: &[&str], stdin: &str) -> Result<Output> {
    control_plane().kubectl_stdin(args, stdin)
}

/// Runs the built `helm` against the control plane.
pub fn helm(args: &[&str]) -> Result<Output> {
    control_plane().helm(args)
}

// === impl ControlPlane ===

impl ControlPlane {
    /// A client for this cluster, on the calling runtime.
    pub async fn client(&self) -> Result<Client> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .with_context(|| format!("reading {}", self.kubeconfig.display()))?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .context("loading the e2e kubeconfig")?;
        Client::try_from(config).context("building a kube client")
    }

    pub fn kubectl(&self, args: &[&str]) -> Result<Output> {
        self.tool("kubectl", args, None)
    }

    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Result<Output> {
        self.tool("kubectl", args, Some(stdin))
    }

    pub fn helm(&self, args: &[&str]) -> Result<Output> {
        self.tool("helm", args, None)
    }

    /// `kubectl` that must succeed; its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> Result<String> {
        let out = self.kubectl(args)?;
        if !out.status.success() {
            bail!("kubectl {} failed: {}", args.join(" "), output_text(&out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn tool(&self, name: &str, args: &[&str], stdin: Option<&str>) -> Result<Output> {
        run_tool(self, name, args, stdin)
    }
}

fn run_tool(cp: &ControlPlane, name: &str, args: &[&str], stdin: Option<&str>) -> Result<Output> {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = Command::new(cp.bin_dir.join(name));
    cmd.args(args)
        .env("KUBECONFIG", &cp.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().with_context(|| format!("starting {name}"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())?;
    }
    child
        .wait_with_output()
        .with_context(|| format!("running {name} {args:?}"))
}

/// The text of a command's stdout and stderr, for assertions and failure messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls `check` until it returns `Ok(Some(v))`, at most `timeout`. The last error or
/// `None` is reported on timeout, so a failing test says what it was waiting for.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = String::from("condition not met");
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A namespace that exists for one test. It holds a `default` ServiceAccount, as a
/// real cluster's controller-manager would create (this control plane has none).
/// On failure its objects are printed; `AGENTNET_E2E_KEEP=1` keeps it afterwards.
pub struct TestNs {
    pub name: String,
    pub client: Client,
    /// The cluster it lives in.
    pub cluster: &'static ControlPlane,
}

impl TestNs {
    pub async fn new(prefix: &str) -> Result<Self> {
        Self::with_labels(prefix, &[]).await
    }

    pub async fn with_labels(prefix: &str, labels: &[(&str, &str)]) -> Result<Self> {
        Self::create(control_plane(), prefix, labels).await
    }

    /// A namespace in `cluster` (the shared control plane, or the real node's).
    pub async fn create(
        cluster: &'static ControlPlane,
        prefix: &str,
        labels: &[(&str, &str)],
    ) -> Result<Self> {
        let client = cluster.client().await?;
        let suffix: u32 = rand::rng().random_range(0..1_000_000);
        let name = format!("{prefix}-{suffix:06}");
        let mut all = vec![(E2E_LABEL.to_owned(), "true".to_owned())];
        all.extend(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(all.into_iter().collect()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        let this = Self {
            name,
            client,
            cluster,
        };
        // A controller-manager creates `default` itself; without one, the harness does.
        if !cluster.has_node {
            this.create_service_account("default").await?;
        }
        Ok(this)
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    pub async fn create_service_account(&self, name: &str) -> Result<ServiceAccount> {
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        };
        self.api::<ServiceAccount>()
            .create(&PostParams::default(), &sa)
            .await
            .with_context(|| format!("creating ServiceAccount {}/{name}", self.name))
    }

    /// `kubectl apply -n <ns> -f -` with the given YAML.
    pub fn apply_yaml(&self, yaml: &str) -> Result<Output> {
        self.cluster
            .kubectl_stdin(&["apply", "-n", &self.name, "-f", "-"], yaml)
    }

    /// Applies a manifest file from the repository.
    pub fn apply_file(&self, path: &Path) -> Result<Output> {
        let path = path.to_string_lossy();
        self.cluster
            .kubectl(&["apply", "-n", &self.name, "-f", &path])
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(out) = self.cluster.kubectl(&[
                "get",
                "all,serviceaccounts,events",
                "-n",
                &self.name,
                "-o",
                "yaml",
            ])
        {
            eprintln!(
                "--- objects in namespace {} ---\n{}",
                self.name,
                output_text(&out)
            );
        }
        if std::env::var_os("AGENTNET_E2E_KEEP").is_some() {
            eprintln!("keeping namespace {} (AGENTNET_E2E_KEEP)", self.name);
            return;
        }
        // Without a controller-manager a namespace stays Terminating; do not wait.
        let _ = self
            .cluster
            .kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}

/// `GET path` over HTTP/1.0 to `addr` (ip:port), e.g. a pod's from the node; the body
/// of a 200 reply.
pub async fn http_get(addr: &str, path: &str) -> Result<String> {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .with_context(|| format!("connecting to {addr}"))??;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nhost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .context("reading the reply")??;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").context("no end of headers")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!(
            "GET http://{addr}{path}: {}",
            head.lines().next().unwrap_or_default()
        );
    }
    Ok(body.to_owned())
}
