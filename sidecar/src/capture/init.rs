//! `agentnet-sidecar init`: installs the capture rules with `iptables-restore` and
//! `ip6tables-restore`, then reads them back; any failure exits non-zero, so the kubelet
//! never starts the pod's other containers without them (fail closed).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use agentnet_api::contract;
use clap::Args;
use ipnet::IpNet;

use super::rules::{CaptureSpec, Family, is_installed, restore_input};

#[derive(Clone, Debug, Args)]
pub struct InitArgs {
    /// The sidecar's UID, whose connections are never redirected.
    #[arg(long, default_value_t = contract::PROXY_UID)]
    pub proxy_uid: u32,
    /// The outbound listener's port.
    #[arg(long, default_value_t = contract::OUTBOUND_PORT)]
    pub outbound_port: u16,
    /// The inbound (mTLS) listener's port.
    #[arg(long, default_value_t = contract::INBOUND_PORT)]
    pub inbound_port: u16,
    /// App ports whose inbound connections go to the inbound listener (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub inbound_ports: Vec<u16>,
    /// Destination ports never redirected (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub exclude_outbound_ports: Vec<u16>,
    /// Destination CIDRs never redirected (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub exclude_outbound_cidrs: Vec<IpNet>,
    /// Print the rules and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("running {command}: {source} (the sidecar image carries iptables; is this it?)")]
    Spawn {
        command: &'static str,
        source: std::io::Error,
    },
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        command: &'static str,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("{command} succeeded, but {save} does not show the capture rules")]
    NotInstalled {
        command: &'static str,
        save: &'static str,
    },
}

/// Installs (or with `--dry-run` prints) the rules; the text says what was done.
pub fn run(args: InitArgs) -> Result<String, InitError> {
    let spec = spec(args.clone());
    let mut report = String::new();
    for family in families() {
        let input = restore_input(&spec, family);
        if !args.dry_run {
            restore(family, &input)?;
            verify(family, &spec)?;
        }
        report.push_str(&format!("# {}\n{input}", family.restore_command()));
    }
    if !families().contains(&Family::V6) {
        report
            .push_str("# IPv6 is disabled in this network namespace: no ip6tables rules needed\n");
    }
    Ok(report)
}

fn spec(args: InitArgs) -> CaptureSpec {
    let InitArgs {
        proxy_uid,
        outbound_port,
        inbound_port,
        inbound_ports,
        exclude_outbound_ports,
        exclude_outbound_cidrs,
        dry_run: _,
    } = args;
    CaptureSpec {
        proxy_uid,
        outbound_port,
        inbound_port,
        inbound_ports,
        exclude_outbound_ports,
        exclude_outbound_cidrs,
    }
}

/// IPv4 always; IPv6 when the namespace has it (then its traffic must be captured too).
fn families() -> Vec<Family> {
    let mut families = vec![Family::V4];
    if Path::new("/proc/net/if_inet6").exists() {
        families.push(Family::V6);
    }
    families
}

fn restore(family: Family, input: &str) -> Result<(), InitError> {
    let command = family.restore_command();
    let spawn = |source| InitError::Spawn { command, source };
    let mut child = Command::new(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(spawn)?;
    }
    let out = child.wait_with_output().map_err(spawn)?;
    if !out.status.success() {
        return Err(InitError::Failed {
            command,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

fn verify(family: Family, spec: &CaptureSpec) -> Result<(), InitError> {
    let (command, save) = (family.restore_command(), family.save_command());
    let out = Command::new(save)
        .args(["-t", "nat"])
        .output()
        .map_err(|source| InitError::Spawn {
            command: save,
            source,
        })?;
    if !out.status.success() || !is_installed(&String::from_utf8_lossy(&out.stdout), spec) {
        return Err(InitError::NotInstalled { command, save });
    }
    Ok(())
}
