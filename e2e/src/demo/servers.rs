//! The reference MCP server @modelcontextprotocol/server-everything as a process on the
//! node (it is Node.js, not in the peers image).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::ControlPlane;
use crate::sidecar::{host_ip, peers_dir};

/// server-everything, listening on the node's address.
pub struct Servers {
    pub host_ip: String,
    pub everything_port: u16,
    everything: Child,
}

impl Servers {
    pub fn start(_cp: &ControlPlane) -> Result<Self> {
        let host_ip = host_ip()?;
        let everything_port = std::net::TcpListener::bind((host_ip.as_str(), 0))?
            .local_addr()?
            .port();
        let script = peers_dir()?
            .join("node/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
        let everything = Command::new("node")
            .arg(&script)
            .arg("streamableHttp")
            .env("PORT", everything_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting node {}", script.display()))?;
        let servers = Servers {
            host_ip,
            everything_port,
            everything,
        };
        servers.wait_listening()?;
        Ok(servers)
    }

    fn wait_listening(&self) -> Result<()> {
        for _ in 0..300 {
            if std::net::TcpStream::connect((self.host_ip.as_str(), self.everything_port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "server-everything did not listen on {}:{} within 30 s",
            self.host_ip,
            self.everything_port
        )
    }

    pub fn stop(mut self) {
        let _ = self.everything.kill();
        let _ = self.everything.wait();
    }
}
