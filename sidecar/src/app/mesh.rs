//! Wiring of the workload identity and mTLS: start the certificate source and the
//! trust bundle watch, let the outbound forwarder reach peer sidecars over mTLS, and
//! bind the inbound listener, whose requests go through the same `Proxy` (policy,
//! limits, metrics, tracer) and stages, with the local app as their upstream. In
//! standalone mode (no certificate source) only the peer lookup is set up, so calls to
//! peers fail closed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Parts;
use crate::identity::{CertStore, LocalIdentity, Workload};
use crate::listeners::inbound::Inbound;
use crate::policy_source::PolicyState;
use crate::request::inbound::InboundTarget;
use crate::request::proxy::Proxy;
use crate::tls::Mesh;
use crate::tls::mesh::Credentials;

/// The identity and the inbound listener.
#[derive(Debug, Default)]
pub(super) struct MeshParts {
    pub workload: Option<Arc<Workload>>,
    pub inbound: Option<Inbound>,
}

/// Starts the identity (if configured) and gives `outbound` its mTLS client.
pub(super) async fn start(
    parts: &Parts,
    outbound: &mut Proxy,
    policy: &Arc<PolicyState>,
    identity: &LocalIdentity,
) -> MeshParts {
    let metrics = outbound.metrics.identity.clone();
    let workload = Workload::start(&parts.mesh, identity.source(), metrics).await;
    let workload = workload.map(Arc::new);
    let credentials = workload.as_ref().map(|w| Credentials {
        store: w.store.clone(),
        trust: w.trust.clone(),
    });
    let timeout = parts.limits.connect_timeout;
    outbound
        .forward
        .set_mesh(Mesh::new(policy.clone(), credentials, timeout));
    MeshParts {
        workload,
        inbound: None,
    }
}

// === impl MeshParts ===

impl MeshParts {
    /// Binds the inbound listener (with a certificate only); its requests use `proxy`.
    pub async fn bind(&mut self, parts: &Parts, proxy: Arc<Proxy>) -> Result<()> {
        let Some(workload) = &self.workload else {
            return Ok(());
        };
        let mesh = &parts.mesh;
        let target = mesh
            .inbound_backend
            .clone()
            .zip(mesh.inbound_forward)
            .map(|(backend, app)| InboundTarget { backend, app });
        let inbound = Inbound::bind(mesh.inbound_addr, proxy, workload, target).await?;
        self.inbound = Some(inbound);
        Ok(())
    }

    /// The store readiness waits on, when there is a certificate source.
    pub fn certificate(&self) -> Option<Arc<CertStore>> {
        self.workload.as_ref().map(|w| w.store.clone())
    }

    /// Serves the inbound listener until `stop`; the task yields its connections.
    pub fn serve(&mut self, stop: watch::Receiver<bool>) -> Option<JoinHandle<GracefulShutdown>> {
        let inbound = self.inbound.take()?;
        Some(tokio::spawn(inbound.serve(stop)))
    }
}

/// Waits for the inbound listener to stop accepting, then drains its connections.
pub(super) async fn drain(task: Option<JoinHandle<GracefulShutdown>>, deadline: Duration) {
    let connections = match task {
        Some(task) => task.await.ok(),
        None => None,
    };
    crate::listeners::inbound::drain(connections, deadline).await;
}
