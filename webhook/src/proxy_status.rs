//! `agentnet-webhook proxy-status`: the sidecars connected to this replica's policy
//! service, read from its loopback debug listener (run it in the replica's pod:
//! `kubectl exec deploy/agentnet-webhook -- agentnet-webhook proxy-status`; each replica
//! lists its own).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::distribution::sessions::{Session, unix_now};

/// Sidecars are "stale" in the listing once nothing reached them for this long.
const STALE_AFTER: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, Parser)]
#[command(name = "agentnet-webhook proxy-status")]
pub struct ProxyStatusCli {
    /// The replica's debug listener (`--debug-addr`).
    #[arg(long, env = "AGENTNET_DEBUG_ADDR", default_value = "127.0.0.1:9091")]
    pub addr: SocketAddr,
    /// Print the sessions as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl ProxyStatusCli {
    /// `Some` when the first argument is `proxy-status`.
    pub fn from_args() -> Option<Self> {
        let mut args = std::env::args_os();
        let program = args.next()?;
        let first = args.next()?;
        (first == "proxy-status").then(|| Self::parse_from(std::iter::once(program).chain(args)))
    }
}

pub async fn run(cli: ProxyStatusCli) -> Result<String> {
    let url = format!("http://{}/debug/sidecars", cli.addr);
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri: http::Uri = url.parse().context("the debug address")?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.get(uri))
        .await
        .with_context(|| format!("GET {url}: timed out"))?
        .with_context(|| format!("GET {url} (is the policy service enabled on this replica?)"))?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("GET {url}: {status}");
    }
    let sessions: Vec<Session> = serde_json::from_slice(&body).context("the sessions")?;
    if cli.json {
        return Ok(serde_json::to_string_pretty(&sessions)? + "\n");
    }
    Ok(table(&sessions, unix_now()))
}

fn table(sessions: &[Session], now: u64) -> String {
    let mut out = format!(
        "{:<56} {:<40} {:<34} {:>10} {:>8}  {}\n",
        "IDENTITY", "POD", "VERSION", "GENERATION", "AGE", "STATE"
    );
    for s in sessions {
        let pod = format!("{}/{}", s.namespace, s.pod.as_deref().unwrap_or("-"));
        let quiet = now.saturating_sub(s.last_sent_at);
        let state = match s.state() {
            "CONNECTING" => "CONNECTING",
            _ if quiet > STALE_AFTER.as_secs() => "STALE",
            state => state,
        };
        out.push_str(&format!(
            "{:<56} {:<40} {:<34} {:>10} {:>7}s  {state}\n",
            s.spiffe_id,
            pod,
            s.version.as_deref().unwrap_or("-"),
            s.generation,
            now.saturating_sub(s.connected_at),
        ));
    }
    out.push_str(&format!(
        "{} sidecar(s) connected to this replica\n",
        sessions.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_identity_pod_version_and_state() {
        let session = |version: Option<&str>, applied: Option<&str>, last: u64| Session {
            spiffe_id: "spiffe://cluster.local/ns/agents/sa/planner".into(),
            pod: Some("planner-1".into()),
            namespace: "agents".into(),
            connected_at: 1_000,
            version: version.map(str::to_owned),
            generation: 4,
            last_sent_at: last,
            applied_version: applied.map(str::to_owned),
            rejected: None,
            acks: applied.is_some(),
            applies: std::sync::Arc::from([]),
        };
        let mut rejected = session(Some("ghi"), Some("abc"), 1_099);
        rejected.rejected = Some("a policy line is not understood".into());
        let out = table(
            &[
                session(Some("abc"), Some("abc"), 1_095),
                session(Some("def"), Some("def"), 1_000),
                session(None, None, 0),
                session(Some("abc"), None, 1_099),
                rejected,
            ],
            1_100,
        );
        let lines: Vec<_> = out.lines().collect();
        assert!(
            lines[1].contains("agents/planner-1")
                && lines[1].contains("abc")
                && lines[1].ends_with("SYNCED")
        );
        assert!(lines[2].ends_with("STALE"), "{}", lines[2]);
        assert!(lines[3].ends_with("CONNECTING"));
        assert!(lines[4].ends_with("SENT"), "{}", lines[4]);
        assert!(lines[5].ends_with("REJECTED"), "{}", lines[5]);
        assert_eq!(lines[6], "5 sidecar(s) connected to this replica");
    }
}
