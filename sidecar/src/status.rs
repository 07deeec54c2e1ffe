//! `agentnet-sidecar status`: what a running sidecar says about itself (readiness and
//! why not, its workload identity, the policy generation it enforces and its age), from
//! its admin listener. Run in the pod:
//! `kubectl exec POD -c agentnet-sidecar -- agentnet-sidecar status`.

use std::net::SocketAddr;

use agentnet_api::contract::{self, env};
use clap::Args;
use http::StatusCode;
use serde_json::{Value, json};

use crate::listeners::admin::client::{AdminError, get};

#[derive(Clone, Debug, Args)]
pub struct StatusArgs {
    /// The running sidecar's admin listener.
    #[arg(long, env = env::ADMIN_ADDR, default_value_t = SocketAddr::from(([127, 0, 0, 1], contract::ADMIN_PORT)))]
    pub admin_addr: SocketAddr,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The status, as text or JSON.
pub async fn run(args: StatusArgs) -> Result<String, AdminError> {
    let addr = args.admin_addr;
    let (ready, detail) = get(addr, "/ready", "text/plain").await?;
    let (identity_status, identity) = get(addr, "/identity", "application/json").await?;
    let (_, config) = get(addr, "/config", "application/json").await?;
    let config: Value = serde_json::from_str(&config).unwrap_or_default();
    let identity: Value = match identity_status {
        StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE => {
            serde_json::from_str(&identity).unwrap_or_default()
        }
        _ => Value::Null,
    };
    let status = json!({
        "ready": ready == StatusCode::OK,
        "readyDetail": detail.trim(),
        "identity": config["identity"],
        "certificate": identity["certificate"],
        "trustRoots": identity["trustRoots"],
        "renewals": identity["renewals"],
        "policy": {
            "synced": config["synced"],
            "generation": config["generation"],
            "ageSeconds": config["age_seconds"],
            "problems": config["problems"],
        },
    });
    Ok(match args.json {
        true => status.to_string(),
        false => text(&status),
    })
}

fn text(s: &Value) -> String {
    let certificate = &s["certificate"];
    let certificate = match certificate["spiffeId"].as_str() {
        Some(id) => format!(
            "{id} (serial {}, valid until {})",
            certificate["serial"].as_str().unwrap_or("?"),
            certificate["notAfter"].as_str().unwrap_or("?")
        ),
        None => "none".to_owned(),
    };
    let policy = &s["policy"];
    let problems = policy["problems"].as_array().map_or(0, Vec::len);
    format!(
        "ready:       {}\nidentity:    {}\ncertificate: {certificate}\npolicy:      generation {}, {}, updated {}s ago, {problems} problem(s)",
        s["readyDetail"].as_str().unwrap_or(""),
        s["identity"].as_str().unwrap_or("?"),
        policy["generation"],
        if policy["synced"] == true {
            "synced"
        } else {
            "not synced"
        },
        policy["ageSeconds"]
            .as_f64()
            .map_or("?".to_owned(), |a| format!("{a:.0}")),
    )
}
