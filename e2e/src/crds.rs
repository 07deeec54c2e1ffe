//! agentnet's CRDs on the shared control plane: read from the chart
//! (`charts/agentnet/crds`, which a unit test in `api` keeps equal to the generated
//! ones), installed once per test process by server-side apply, and Established.
//! Every e2e module that needs XBackend or XAccessPolicy calls `install_crds()`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};
use tokio::sync::OnceCell;

use crate::{client, eventually, repo_root};

/// Field manager of the install, so a later apply by the same tests is idempotent.
pub const FIELD_MANAGER: &str = "agentnet-e2e";
pub const XBACKENDS: &str = "xbackends.agentic.networking.x-k8s.io";
pub const XACCESSPOLICIES: &str = "xaccesspolicies.agentic.networking.x-k8s.io";

static INSTALLED: OnceCell<()> = OnceCell::const_new();

/// Installs (or updates) the chart's CRDs and waits until they are Established. The
/// first call in a process does the work; later calls return at once, so tests that
/// patch a CRD at runtime (the webhook's conversion settings) are not undone.
pub async fn install_crds() -> Result<()> {
    INSTALLED.get_or_try_init(install).await.map(|_| ())
}

/// The chart's CRD directory.
pub fn chart_crds_dir() -> PathBuf {
    repo_root().join("charts/agentnet/crds")
}

/// The CRDs as the chart ships them, in file-name order.
pub fn chart_crds() -> Result<Vec<CustomResourceDefinition>> {
    let dir = chart_crds_dir();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        })
        .collect()
}

/// Whether the API server reports the CRD as Established.
pub fn is_established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

async fn install() -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client().await?);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in chart_crds()? {
        let name = crd
            .metadata
            .name
            .clone()
            .context("a chart CRD has no name")?;
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .with_context(|| format!("applying CRD {name}"))?;
        eventually(
            &format!("CRD {name} Established"),
            Duration::from_secs(30),
            || {
                let (api, name) = (api.clone(), name.clone());
                async move { Ok(is_established(&api.get(&name).await?).then_some(())) }
            },
        )
        .await?;
    }
    Ok(())
}
