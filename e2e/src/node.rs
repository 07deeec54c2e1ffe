//! The real-node world: one cluster per test process with a kubelet, containerd,
//! controllers, kube-proxy and CoreDNS (`hack/cluster.sh up --node`), and agentnet
//! installed into it the way a user installs it: images built by `hack/images.sh`,
//! loaded into the node's containerd, and `helm install` of the chart.
//!
//! `AGENTNET_E2E_NODE_KUBECONFIG` names the kubeconfig of a node cluster that is already
//! running (`hack/cluster.sh up --node`; its directory must be the cluster's), for a
//! fast edit-test loop: the harness then neither starts nor stops it.
//!
//! Tests that break the shared install for everyone (stopping every webhook replica)
//! take [`exclusive`]; all others take [`shared`], so they never run during one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::{OnceCell, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::control_plane::{run_for_line, spawn_reaper};
use crate::{ControlPlane, output_text, repo_root};

/// The Helm release and namespace of agentnet in the node world.
pub const RELEASE: &str = "agentnet";
pub const NAMESPACE: &str = "agentnet-system";
/// The Deployment of agentnet-webhook the chart creates for [`RELEASE`].
pub const WEBHOOK_DEPLOYMENT: &str = "agentnet-webhook";

static NODE: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
static INSTALL: OnceCell<Install> = OnceCell::const_new();
static SHARING: RwLock<()> = RwLock::const_new(());

/// agentnet as installed in the node world.
#[derive(Debug)]
pub struct Install {
    pub release: &'static str,
    pub namespace: &'static str,
    /// The image references the chart's defaults name (and the node has loaded).
    pub sidecar_image: String,
    pub webhook_image: String,
    /// The MCP/A2A peers image (servers and clients of hack/peers).
    pub peers_image: String,
}

/// The node cluster, started on first call.
///
/// # Panics
/// When it cannot be started: every node test needs it, and the message says why.
pub fn node() -> &'static ControlPlane {
    match NODE.get_or_init(|| start().map_err(|e| format!("{e:#}"))) {
        Ok(cp) => cp,
        Err(e) => panic!("the real node is unavailable: {e}"),
    }
}

/// The state directory of the node cluster (`AGENTNET_CLUSTER_DIR` of hack/ scripts).
pub fn cluster_dir(cp: &ControlPlane) -> PathBuf {
    cp.state_dir.clone().unwrap_or_else(|| {
        cp.kubeconfig
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    })
}

fn start() -> Result<ControlPlane> {
    let hack = repo_root().join("hack");
    let bin_dir = PathBuf::from(run_for_line(Command::new(hack.join("testbin.sh")))?);
    if let Some(kubeconfig) =
        std::env::var_os("AGENTNET_E2E_NODE_KUBECONFIG").filter(|v| !v.is_empty())
    {
        return Ok(ControlPlane {
            kubeconfig: kubeconfig.into(),
            bin_dir,
            state_dir: None,
            has_node: true,
        });
    }
    let state_dir = std::env::temp_dir().join(format!("agentnet-e2e-node-{}", std::process::id()));
    spawn_reaper(&hack, &state_dir)?;
    let mut up = Command::new(hack.join("cluster.sh"));
    up.args(["up", "--node"])
        .env("AGENTNET_CLUSTER_DIR", &state_dir);
    let kubeconfig = PathBuf::from(run_for_line(up)?);
    Ok(ControlPlane {
        kubeconfig,
        bin_dir,
        state_dir: Some(state_dir),
        has_node: true,
    })
}

/// agentnet installed in the node world, once per process: `hack/images.sh import` of
/// the agentnet and peers images, then `helm install` with the chart's defaults.
pub async fn install() -> Result<&'static Install> {
    INSTALL.get_or_try_init(install_once).await
}

async fn install_once() -> Result<Install> {
    let cp = node();
    let (images, refs) = tokio::task::spawn_blocking(|| -> Result<(String, Vec<String>)> {
        let dir = cluster_dir(node());
        let images = hack("images.sh", &["import", "agentnet", "peers"], &dir)?;
        let refs = hack("images.sh", &["refs", "agentnet", "peers"], &dir)?;
        Ok((images, refs.lines().map(str::to_owned).collect()))
    })
    .await??;
    let [sidecar_image, webhook_image, peers_image] = refs.as_slice() else {
        bail!("hack/images.sh refs printed {refs:?}, not three references: {images}");
    };
    let chart = repo_root().join("charts/agentnet");
    let chart = chart.to_string_lossy();
    let reinstall = cp
        .helm(&["status", RELEASE, "-n", NAMESPACE])?
        .status
        .success();
    let out = cp.helm(&[
        "upgrade",
        "--install",
        RELEASE,
        &chart,
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        // Tokens as short-lived as allowed, so the kubelet rotates them within a test.
        "--set",
        "sidecar.tokenExpiration=10m",
        "--wait",
        "--timeout",
        "180s",
    ])?;
    if !out.status.success() {
        let state = cp
            .kubectl(&["-n", NAMESPACE, "get", "all,events", "-o", "wide"])
            .map(|o| output_text(&o))
            .unwrap_or_default();
        bail!("helm install failed: {}\n{state}", output_text(&out));
    }
    if reinstall {
        // A cluster kept between runs (AGENTNET_E2E_NODE_KUBECONFIG): the images were
        // just imported again under the same tags, so restart onto them.
        let deployment = format!("deployment/{WEBHOOK_DEPLOYMENT}");
        cp.kubectl_ok(&["-n", NAMESPACE, "rollout", "restart", &deployment])?;
        cp.kubectl_ok(&[
            "-n",
            NAMESPACE,
            "rollout",
            "status",
            &deployment,
            "--timeout=120s",
        ])?;
    }
    Ok(Install {
        release: RELEASE,
        namespace: NAMESPACE,
        sidecar_image: sidecar_image.clone(),
        webhook_image: webhook_image.clone(),
        peers_image: peers_image.clone(),
    })
}

/// Runs `hack/<script> args…` against the cluster in `dir`; its stdout.
pub fn hack(script: &str, args: &[&str], dir: &Path) -> Result<String> {
    let out = Command::new(repo_root().join("hack").join(script))
        .args(args)
        .env("AGENTNET_CLUSTER_DIR", dir)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running hack/{script}"))?;
    if !out.status.success() {
        bail!("hack/{script} {args:?} failed: {}", output_text(&out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// For a test that leaves the shared install working for others.
pub async fn shared() -> RwLockReadGuard<'static, ()> {
    SHARING.read().await
}

/// For a test that breaks the shared install for a while (e.g. stops every webhook
/// replica): no other node test runs meanwhile.
pub async fn exclusive() -> RwLockWriteGuard<'static, ()> {
    SHARING.write().await
}

/// How long a pod may take to start on the node (image present, a few containers).
pub const POD_START: Duration = Duration::from_secs(90);

/// Where hack/testbin.sh put containerd, ctr and CoreDNS (hack/lib.sh `nodebin_dir`).
pub fn nodebin_dir() -> Result<PathBuf> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let lib = repo_root().join("hack/lib.sh");
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!("source '{}' && nodebin_dir", lib.display()));
        run_for_line(cmd)
            .map(PathBuf::from)
            .map_err(|e| format!("{e:#}"))
    });
    dir.clone().map_err(|e| anyhow::anyhow!("{e}"))
}
