//! One real control plane per test process: started by `hack/cluster.sh` (or taken from
//! `KUBECONFIG`) on first use, stopped when the process ends, even after failures.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

/// Where the API server is and which tools talk to it.
#[derive(Debug)]
pub struct ControlPlane {
    pub kubeconfig: PathBuf,
    /// kube-apiserver, etcd, kubectl and helm built by `hack/testbin.sh`.
    pub bin_dir: PathBuf,
    /// Set when this process started the control plane (and so must stop it).
    pub state_dir: Option<PathBuf>,
    /// Whether it has a real node (kubelet, controllers, DNS): `hack/cluster.sh up --node`.
    pub has_node: bool,
}

static CONTROL_PLANE: OnceLock<Result<ControlPlane, String>> = OnceLock::new();

/// The shared control plane, started on first call.
///
/// # Panics
/// When the control plane cannot be started: every e2e test needs it, and the
/// message names the log to read.
pub fn control_plane() -> &'static ControlPlane {
    let started = CONTROL_PLANE.get_or_init(|| start().map_err(|e| format!("{e:#}")));
    match started {
        Ok(cp) => cp,
        Err(e) => panic!("control plane unavailable: {e}"),
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

fn start() -> Result<ControlPlane> {
    let hack = repo_root().join("hack");
    let bin_dir = PathBuf::from(run_for_line(Command::new(hack.join("testbin.sh")))?);
    if let Some(kubeconfig) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return Ok(ControlPlane {
            kubeconfig: kubeconfig.into(),
            bin_dir,
            state_dir: None,
            has_node: false,
        });
    }
    let state_dir = std::env::temp_dir().join(format!("agentnet-e2e-{}", std::process::id()));
    spawn_reaper(&hack, &state_dir)?;
    let mut up = Command::new(hack.join("cluster.sh"));
    up.arg("up").env("AGENTNET_CLUSTER_DIR", &state_dir);
    let kubeconfig = PathBuf::from(run_for_line(up)?);
    Ok(ControlPlane {
        kubeconfig,
        bin_dir,
        state_dir: Some(state_dir),
        has_node: false,
    })
}

/// Runs a hack script and returns the last line it printed on stdout.
pub(crate) fn run_for_line(mut cmd: Command) -> Result<String> {
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
        .map(str::to_owned)
        .with_context(|| format!("{cmd:?} printed nothing"))
}

/// A detached watcher that runs `cluster.sh down` once this process is gone, however
/// it ends (test failure, panic, SIGKILL), so no etcd or API server outlives the run.
pub(crate) fn spawn_reaper(hack: &Path, state_dir: &Path) -> Result<()> {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; AGENTNET_CLUSTER_DIR='{dir}' '{down}' down >/dev/null 2>&1",
        pid = std::process::id(),
        dir = state_dir.display(),
        down = hack.join("cluster.sh").display(),
    );
    Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("spawning the control-plane reaper (setsid)")?;
    Ok(())
}
