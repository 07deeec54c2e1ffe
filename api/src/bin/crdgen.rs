//! Writes the CRD manifests to `charts/agentnet/crds/` (or the directory given as the
//! only argument). `cargo test -p agentnet-api` fails while they are out of date.

use std::path::PathBuf;

use agentnet_api::crd::{FILE_NAMES, to_yaml};
use anyhow::{Context, Result};

fn main() -> Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/agentnet/crds")
        });
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (crd, file) in agentnet_api::crds().iter().zip(FILE_NAMES) {
        let path = dir.join(file);
        let yaml = to_yaml(crd).context("serializing a CRD")?;
        std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
