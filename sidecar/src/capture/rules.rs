//! The pod's capture rules as `iptables-restore` input, one family at a time. Pure, so
//! every case is a unit test; `init` runs them.
//!
//! Outbound: every TCP connection the pod opens, except the sidecar's own (by UID), to
//! loopback (anything routed through `lo`, the pod's own address included), DNS over
//! TCP, and the excluded ports and CIDRs, is redirected to the outbound listener, which
//! reads the original destination back with `SO_ORIGINAL_DST`. UDP is never redirected
//! (DNS keeps working). Inbound: TCP to the app ports that an inbound backend serves is
//! redirected to the inbound (mTLS) listener, so a caller cannot skip inbound policy by
//! dialing the app's port.

use std::fmt::Write;

use ipnet::IpNet;

/// The chains the rules live in (nat table), named so an operator sees whose they are.
pub const OUTPUT_CHAIN: &str = "AGENTNET_OUTPUT";
pub const INBOUND_CHAIN: &str = "AGENTNET_INBOUND";

/// What to capture, as the webhook passes it to the init container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureSpec {
    /// The sidecar's UID: its own connections are never redirected.
    pub proxy_uid: u32,
    pub outbound_port: u16,
    pub inbound_port: u16,
    /// App ports whose inbound connections go to the inbound listener.
    pub inbound_ports: Vec<u16>,
    pub exclude_outbound_ports: Vec<u16>,
    pub exclude_outbound_cidrs: Vec<IpNet>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

// === impl Family ===

impl Family {
    /// The restore command for this family.
    pub fn restore_command(self) -> &'static str {
        match self {
            Family::V4 => "iptables-restore",
            Family::V6 => "ip6tables-restore",
        }
    }

    pub fn save_command(self) -> &'static str {
        match self {
            Family::V4 => "iptables-save",
            Family::V6 => "ip6tables-save",
        }
    }

    fn contains(self, net: &IpNet) -> bool {
        matches!(
            (self, net),
            (Family::V4, IpNet::V4(_)) | (Family::V6, IpNet::V6(_))
        )
    }
}

/// The nat table for `family`: `iptables-restore` replaces the whole table, so running
/// it again (a restarted init container) yields the same rules, never duplicates.
pub fn restore_input(spec: &CaptureSpec, family: Family) -> String {
    let mut out = String::from("*nat\n");
    let _ = writeln!(out, ":{OUTPUT_CHAIN} - [0:0]");
    if !spec.inbound_ports.is_empty() {
        let _ = writeln!(out, ":{INBOUND_CHAIN} - [0:0]");
        let _ = writeln!(out, "-A PREROUTING -p tcp -j {INBOUND_CHAIN}");
        for port in &spec.inbound_ports {
            let _ = writeln!(
                out,
                "-A {INBOUND_CHAIN} -p tcp --dport {port} -j REDIRECT --to-ports {}",
                spec.inbound_port
            );
        }
    }
    let _ = writeln!(out, "-A OUTPUT -p tcp -j {OUTPUT_CHAIN}");
    let mut exempt = |rule: String| {
        let _ = writeln!(out, "-A {OUTPUT_CHAIN} {rule} -j RETURN");
    };
    exempt(format!("-m owner --uid-owner {}", spec.proxy_uid));
    exempt("-o lo".to_owned());
    exempt("-p tcp --dport 53".to_owned());
    for port in &spec.exclude_outbound_ports {
        exempt(format!("-p tcp --dport {port}"));
    }
    for net in spec
        .exclude_outbound_cidrs
        .iter()
        .filter(|n| family.contains(n))
    {
        exempt(format!("-d {net}"));
    }
    let _ = writeln!(
        out,
        "-A {OUTPUT_CHAIN} -p tcp -j REDIRECT --to-ports {}",
        spec.outbound_port
    );
    out.push_str("COMMIT\n");
    out
}

/// Whether `saved` (`iptables-save -t nat` output) holds the capture: the jump into
/// our chain and its final redirect. Checked after restoring, so a command that
/// "succeeded" without effect still fails the init container.
pub fn is_installed(saved: &str, spec: &CaptureSpec) -> bool {
    let jump = format!("-A OUTPUT -p tcp -j {OUTPUT_CHAIN}");
    let redirect = format!("--to-ports {}", spec.outbound_port);
    let has = |needle: &str| saved.lines().any(|l| l.contains(needle));
    has(&jump)
        && saved
            .lines()
            .any(|l| l.starts_with(&format!("-A {OUTPUT_CHAIN}")) && l.contains(&redirect))
}

#[cfg(test)]
mod tests;
