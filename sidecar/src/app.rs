//! Wiring: validate the configuration, start the policy source, bind the outbound and
//! admin listeners, serve until shutdown, then drain within the deadline.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agentnet_policy::BackendDefault;
use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{
    Capture, Config, ExtensionsConfig, IdentityConfig, LimitsConfig, OutboundDefault, PortItem,
    SecretUrl,
};
use crate::identity::LocalIdentity;
use crate::listeners::admin::{self, Admin};
use crate::listeners::outbound;
use crate::metrics::Metrics;
use crate::policy_source::control_plane::{self, ControlPlane};
use crate::policy_source::{PolicyState, Publisher, dir};
use crate::ready::Ready;
use crate::request::connect::Tunnels;
use crate::request::extauth::ExternalAuth;
use crate::request::forward::Forwarder;
use crate::request::identify::Routing;
use crate::request::proxy::{Limits, Proxy, until_set};
use crate::request::ratelimit::{GlobalStore, RateLimiter};
use crate::request::trace::Tracer;

mod mesh;

/// A started sidecar.
#[derive(Debug)]
pub struct Running {
    pub outbound_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The mTLS listener, when the sidecar has a workload certificate source.
    pub inbound_addr: Option<SocketAddr>,
    pub policy: Arc<PolicyState>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<()>>,
}

/// The configuration, grouped by the part of the sidecar that uses it.
struct Parts {
    capture: Capture,
    addrs: (SocketAddr, SocketAddr),
    source: PolicySource,
    identity: IdentityConfig,
    backend_default: BackendDefault,
    outbound: (OutboundDefault, Vec<PortItem>),
    limits: LimitsConfig,
    upstream_ca_file: Option<PathBuf>,
    drain_timeout: Duration,
    audit: bool,
    extensions: ExtensionsConfig,
    mesh: crate::config::MeshConfig,
}

enum PolicySource {
    Dir(PathBuf, Duration),
    /// The policy service's URL and the stale bound.
    ControlPlane(String, Duration),
    Kube(Option<PathBuf>),
}

struct Serving {
    launch: Launch,
    /// Outbound, admin.
    /// Outbound (one per address family captured), admin.
    listeners: (Vec<TcpListener>, TcpListener),
    stop: watch::Receiver<bool>,
}

/// Starts everything and returns once the listeners are bound.
pub async fn start(config: Config) -> Result<Running> {
    config.validate()?;
    let config_json = Arc::new(serde_json::to_value(&config)?);
    let identity = LocalIdentity::new(config.source()?, config.identity.namespace.clone());
    let parts = split(config);
    let settings = parts.identity.settings(parts.backend_default);
    let policy = PolicyState::new(&settings);
    let mut outbound = proxy(&parts, policy.clone(), identity.clone())?;
    let mut mesh = mesh::start(&parts, &mut outbound, &policy, &identity).await;
    let proxy = Arc::new(outbound);
    mesh.bind(&parts, proxy.clone()).await?;
    let publisher = Publisher::new(policy.clone(), settings);
    let source_task = spawn_source(parts.source, publisher, &parts.mesh, &mesh, &identity).await?;
    let ready = Arc::new(Ready::new(policy.clone()).with_certificate(mesh.certificate()));
    let metrics = proxy.metrics.clone();
    let admin = Admin {
        policy,
        metrics,
        ready,
        identity,
        config: config_json,
        workload: mesh.workload.clone(),
    };
    let (addrs, drain_timeout) = (parts.addrs, parts.drain_timeout);
    launch(Launch {
        proxy,
        admin,
        addrs,
        capture: parts.capture,
        drain_timeout,
        source_task,
        mesh,
    })
    .await
}

/// What `launch` starts.
struct Launch {
    proxy: Arc<Proxy>,
    admin: Admin,
    addrs: (SocketAddr, SocketAddr),
    capture: Capture,
    drain_timeout: Duration,
    source_task: JoinHandle<()>,
    mesh: mesh::MeshParts,
}

/// Binds the listeners and starts serving on them.
async fn launch(launch: Launch) -> Result<Running> {
    let outbound = bind_outbound(launch.addrs.0, launch.capture).await?;
    let admin = bind(launch.addrs.1, "admin").await?;
    let (outbound_addr, admin_addr) = (outbound[0].local_addr()?, admin.local_addr()?);
    let policy = launch.admin.policy.clone();
    let inbound_addr = launch
        .mesh
        .inbound
        .as_ref()
        .map(|i| i.local_addr())
        .transpose()?;
    let (shutdown, stop) = watch::channel(false);
    let listeners = (outbound, admin);
    let task = tokio::spawn(
        Serving {
            launch,
            listeners,
            stop,
        }
        .run(),
    );
    tracing::info!(%outbound_addr, %admin_addr, "agentnet-sidecar started");
    Ok(Running {
        outbound_addr,
        admin_addr,
        inbound_addr,
        policy,
        shutdown,
        task,
    })
}

/// Takes `Config` apart without `..`, so a new field cannot be silently ignored (and
/// so this runs past 30 lines: one line per field).
fn split(config: Config) -> Parts {
    let Config {
        outbound_addr,
        admin_addr,
        outbound_default,
        backend_default,
        capture,
        exclude_outbound_ports,
        config_dir,
        config_poll_interval,
        policy_url,
        policy_stale_after,
        kubeconfig,
        identity,
        limits,
        upstream_ca_file,
        drain_timeout,
        workers: _,
        log,
        extensions,
        mesh,
    } = config;
    let policy_url = policy_url.filter(|u| !u.is_empty());
    let source = match (config_dir, policy_url) {
        (Some(dir), _) => PolicySource::Dir(dir, config_poll_interval),
        (None, Some(url)) => PolicySource::ControlPlane(url, policy_stale_after),
        (None, None) => PolicySource::Kube(kubeconfig),
    };
    let addrs = (outbound_addr, admin_addr);
    let outbound = (outbound_default, exclude_outbound_ports);
    Parts {
        capture,
        mesh,
        extensions,
        audit: log.audit,
        addrs,
        source,
        identity,
        backend_default,
        outbound,
        limits,
        upstream_ca_file,
        drain_timeout,
    }
}

async fn spawn_source(
    source: PolicySource,
    publisher: Publisher,
    mesh_config: &crate::config::MeshConfig,
    mesh: &mesh::MeshParts,
    identity: &LocalIdentity,
) -> Result<JoinHandle<()>> {
    Ok(match source {
        PolicySource::Dir(dir, interval) => {
            tokio::spawn(dir::run(dir::DirSource::new(dir), publisher, interval))
        }
        PolicySource::ControlPlane(url, stale_after) => {
            let workload = mesh
                .workload
                .as_ref()
                .context("the policy service needs the workload identity's trust bundle")?;
            publisher.state().set_stale_after(stale_after);
            let source = ControlPlane::new(
                &url,
                &identity.source().to_string(),
                mesh_config.token_file.clone(),
                workload.trust.clone(),
            );
            tokio::spawn(control_plane::run(source, publisher))
        }
        PolicySource::Kube(kubeconfig) => {
            let client = kube_client(kubeconfig).await?;
            tokio::spawn(crate::policy_source::kube::run(client, publisher))
        }
    })
}

fn proxy(parts: &Parts, policy: Arc<PolicyState>, identity: LocalIdentity) -> Result<Proxy> {
    let LimitsConfig {
        max_body_bytes,
        max_list_bytes,
        connect_timeout,
    } = parts.limits;
    let (outbound_default, excluded) = &parts.outbound;
    let excluded_ports = excluded.iter().filter_map(|p| p.0).collect();
    let caller_namespace = identity.namespace().to_owned();
    Ok(Proxy {
        policy,
        identity,
        routing: Routing {
            caller_namespace,
            outbound_default: *outbound_default,
            excluded_ports,
        },
        forward: Forwarder::new(connect_timeout, parts.upstream_ca_file.as_deref())?,
        external_auth: ExternalAuth::new(parts.extensions.extauth_timeout),
        rate_limiter: rate_limiter(&parts.extensions)?,
        tracer: Tracer::new(
            parts
                .extensions
                .otlp_endpoint
                .as_ref()
                .map(SecretUrl::expose),
        )?,
        metrics: Arc::new(Metrics::new()),
        tunnels: Tunnels::new(),
        limits: Limits {
            max_body_bytes,
            max_list_bytes,
            connect_timeout,
        },
        audit: parts.audit,
    })
}

fn rate_limiter(extensions: &ExtensionsConfig) -> Result<RateLimiter> {
    let url = extensions
        .rate_limit_redis_url
        .as_ref()
        .map(SecretUrl::expose);
    let global = GlobalStore::new(url).context("--rate-limit-redis-url")?;
    Ok(RateLimiter::new(extensions.rate_limit_max_keys, global))
}

/// The outbound listener; with iptables capture also on IPv6 loopback, where ip6tables
/// redirects the pod's IPv6 connections (unless the pod has no IPv6).
async fn bind_outbound(addr: SocketAddr, capture: Capture) -> Result<Vec<TcpListener>> {
    let mut listeners = vec![bind(addr, "outbound").await?];
    if capture == Capture::Iptables && addr.ip() == std::net::Ipv4Addr::LOCALHOST {
        let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()));
        match TcpListener::bind(v6).await {
            Ok(listener) => listeners.push(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                tracing::info!("no IPv6 loopback: IPv6 connections are not captured here")
            }
            Err(e) => return Err(e).with_context(|| format!("binding the outbound listener {v6}")),
        }
    }
    Ok(listeners)
}

async fn bind(addr: SocketAddr, which: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {which} listener {addr}"))
}

async fn kube_client(kubeconfig: Option<PathBuf>) -> Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(&path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            let options = KubeConfigOptions::default();
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .context("loading the kubeconfig")?
        }
        None => kube::Config::infer()
            .await
            .context("finding a Kubernetes configuration (in-cluster, then $KUBECONFIG)")?,
    };
    kube::Client::try_from(config).context("building the Kubernetes client")
}

// === impl Serving ===

impl Serving {
    /// Serves until told to stop, then drains connections and tunnels (up to the
    /// deadline) before the admin listener and the policy source stop.
    async fn run(self) -> Result<()> {
        let Serving {
            mut launch,
            listeners: (outbound_listener, admin_listener),
            stop,
        } = self;
        let ready = launch.admin.ready.clone();
        let (admin_stop, admin_task) = serve_admin(admin_listener, launch.admin);
        let inbound = launch.mesh.serve(stop.clone());
        ready.serving();
        let connections = outbound::serve(outbound_listener, launch.proxy.clone(), stop).await;
        ready.draining();
        let deadline = launch.drain_timeout;
        tokio::join!(
            drain(&launch.proxy, connections, deadline),
            mesh::drain(inbound, deadline)
        );
        admin_stop.send_replace(true);
        launch.source_task.abort();
        // Flushes buffered spans; blocking, so off the async workers.
        let tracer = launch.proxy.tracer.clone();
        let _ = tokio::task::spawn_blocking(move || tracer.shutdown()).await;
        admin_task
            .await
            .context("admin listener task")?
            .context("admin listener")?;
        tracing::info!("agentnet-sidecar stopped");
        Ok(())
    }
}

/// The admin listener, until the returned flag is set.
fn serve_admin(
    listener: TcpListener,
    admin: Admin,
) -> (watch::Sender<bool>, JoinHandle<std::io::Result<()>>) {
    let (stop, mut stopped) = watch::channel(false);
    let router = admin::router(admin).into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, router);
    let server = server.with_graceful_shutdown(async move { until_set(&mut stopped).await });
    (stop, tokio::spawn(async move { server.await }))
}

/// Waits for open connections (SSE streams included) and tunnels to finish, then
/// closes whatever the deadline left open.
async fn drain(
    proxy: &Proxy,
    connections: hyper_util::server::graceful::GracefulShutdown,
    deadline: Duration,
) {
    tracing::info!(
        open = connections.count(),
        tunnels = proxy.tunnels.count(),
        "draining"
    );
    let drained = tokio::time::timeout(deadline, async {
        connections.shutdown().await;
        proxy.tunnels.drained().await;
    });
    if drained.await.is_err() {
        tracing::warn!(timeout = ?deadline, "drain deadline passed; closing what is still open");
    }
    proxy.tunnels.close_all();
}

// === impl Running ===

impl Running {
    /// Stops accepting, drains, and waits until everything has stopped.
    pub async fn shutdown(self) -> Result<()> {
        self.shutdown.send_replace(true);
        self.task.await.context("sidecar task")?
    }
}
