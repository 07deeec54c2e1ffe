//! The chart, rendered with `helm template` and applied with `kubectl apply`.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::{helm, kubectl_stdin, output_text, repo_root};

/// `helm template` of the chart with the local URL and `values`.
pub fn render(
    release: &str,
    namespace: &str,
    url: &str,
    values: &[(&str, &str)],
    crds: bool,
) -> Result<String> {
    let chart = repo_root()
        .join("charts/agentnet")
        .to_string_lossy()
        .into_owned();
    let crds = if crds {
        "--include-crds"
    } else {
        "--skip-crds"
    };
    let mut args = vec!["template", release, &chart, "--namespace", namespace, crds];
    let url = format!("webhook.url={url}");
    let sets: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for set in std::iter::once(&url).chain(&sets) {
        args.extend(["--set", set]);
    }
    let out = helm(&args)?;
    if !out.status.success() {
        bail!("helm template failed: {}", output_text(&out));
    }
    Ok(String::from_utf8(out.stdout)?)
}

pub(super) fn apply(manifest: &str) -> Result<()> {
    let out = kubectl_stdin(&["apply", "-f", "-"], manifest)?;
    if !out.status.success() {
        bail!("kubectl apply of the chart failed: {}", output_text(&out));
    }
    Ok(())
}

/// The webhook container's environment from the rendered Deployment, with the
/// downward-API values a kubelet would fill in.
pub fn deployment_env(manifest: &str, namespace: &str) -> Result<Vec<(String, String)>> {
    let deployment = serde_yaml::Deserializer::from_str(manifest)
        .map(Value::deserialize)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .context("the chart renders no Deployment")?;
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    env.iter().map(|var| env_entry(var, namespace)).collect()
}

fn env_entry(var: &Value, namespace: &str) -> Result<(String, String)> {
    let name = var["name"]
        .as_str()
        .context("env entry without a name")?
        .to_owned();
    let value = match (
        var["value"].as_str(),
        var["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
    ) {
        (Some(v), _) => v.to_owned(),
        (None, Some("metadata.namespace")) => namespace.to_owned(),
        (None, Some("metadata.name")) => "agentnet-webhook-e2e-local".to_owned(),
        _ => bail!("unsupported env entry {var}"),
    };
    Ok((name, value))
}
