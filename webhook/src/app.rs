//! Wiring: one kube client, one shutdown signal, one task per job.
//!
//! Jobs: the TLS server (`/mutate`, `/convert`), the admin server (`/metrics`,
//! probes), serving-certificate maintenance, the policy status controller and the
//! identity service (its own TLS listener, CA, trust bundles, PodCertificateRequest
//! signer). `run_ca` runs the `agentnet-webhook ca …` commands instead.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agentnet_api::contract;
use anyhow::{Context, Result};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use k8s_openapi::api::authentication::v1::TokenReview;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{CaCli, Config, TlsMode};
use crate::identity::IdentityService;
use crate::identity::token_review::TokenReviewer;
use crate::metrics::Metrics;
use crate::mutate::MutateConfig;
use crate::mutate::handler::MutateState;
use crate::server::{self, CertResolver};
use crate::serving_cert::publish::{Endpoint, Publisher};
use crate::serving_cert::store::SecretStore;
use crate::serving_cert::{self, Source};
use crate::status::StatusController;
use crate::{admin, convert, distribution};

/// An AdmissionReview carries the pod (up to ~1.5 MiB) and may carry it twice.
const MAX_REVIEW_BYTES: usize = 8 * 1024 * 1024;
/// How long jobs get to finish after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

pub async fn run(config: Config) -> Result<()> {
    tracing::info!(?config, "starting agentnet-webhook");
    // kube and our listeners both use rustls: make ring the one provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube_client(config.kubeconfig.as_deref()).await?;
    let (stop, stopped) = watch::channel(false);
    let mut jobs = spawn_jobs(&config, &client, stopped).await?;
    wait_for_stop(&mut jobs).await;
    let _ = stop.send(true);
    drain(jobs).await;
    Ok(())
}

/// One task per job, each stopping when `stopped` turns true.
async fn spawn_jobs(
    config: &Config,
    client: &Client,
    stopped: watch::Receiver<bool>,
) -> Result<JoinSet<()>> {
    let (metrics, source) = (Arc::new(Metrics::new()), cert_source(config, client));
    let first = source
        .load()
        .await
        .context("loading the serving certificate")?;
    let resolver = Arc::new(CertResolver::new(&first.chain_pem, &first.key_pem)?);
    let tls = Arc::new(resolver.server_config()?);
    let webhook_listener = bind(config.listen_addr, "webhook").await?;
    let admin_listener = bind(config.metrics_addr, "metrics").await?;
    let routes = webhook_routes(config, client, &metrics);
    let admin = admin::router(metrics.clone(), stopped.clone());
    let every = config.serving.cert_check_interval;
    let mut jobs = JoinSet::new();
    jobs.spawn(server::serve_tls(
        webhook_listener,
        routes,
        tls,
        stopped.clone(),
    ));
    jobs.spawn(server::serve_plain(admin_listener, admin, stopped.clone()));
    let (changed_tx, changed) = watch::channel(0);
    let watch_client = watch_client(config.kubeconfig.as_deref()).await?;
    let (stores, watches) =
        crate::status::stores::start(&watch_client, &config.namespace, changed_tx);
    jobs.spawn(until_stopped(watches, stopped.clone()));
    if config.status.enabled {
        let controller = StatusController::new(config, client.clone(), metrics.clone());
        jobs.spawn(controller.run(stores.clone(), changed.clone(), stopped.clone()));
    }
    let policy_routes = spawn_distribution(
        config,
        client,
        (stores, changed),
        &metrics,
        &stopped,
        &mut jobs,
    )
    .await?;
    spawn_identity(config, client, &metrics, policy_routes, &stopped, &mut jobs).await?;
    jobs.spawn(serving_cert::maintain(
        source, resolver, metrics, every, stopped,
    ));
    Ok(jobs)
}

/// The identity service (its own TLS listener, which also serves `extra`), unless
/// disabled.
async fn spawn_identity(
    config: &Config,
    client: &Client,
    metrics: &Arc<Metrics>,
    extra: Router,
    stopped: &watch::Receiver<bool>,
    jobs: &mut JoinSet<()>,
) -> Result<()> {
    if config.identity.enabled {
        let identity = IdentityService::new(config, client.clone(), metrics.clone())?;
        let listener = bind(config.identity.listen_addr, "identity").await?;
        jobs.spawn(identity.run(listener, extra, stopped.clone()));
    }
    Ok(())
}

/// The policy service: cuts views from the shared stores and serves them on the
/// identity listener (the routes returned); its sessions on the loopback debug
/// listener.
async fn spawn_distribution(
    config: &Config,
    client: &Client,
    (stores, changed): (crate::status::stores::Stores, watch::Receiver<u64>),
    metrics: &Arc<Metrics>,
    stopped: &watch::Receiver<bool>,
    jobs: &mut JoinSet<()>,
) -> Result<Router> {
    let i = &config.identity;
    if !(i.enabled && i.policy_service) {
        return Ok(Router::new());
    }
    let (cut_tx, cut) = watch::channel(None);
    let sessions = Arc::new(distribution::sessions::Sessions::default());
    let reviews: Api<TokenReview> = Api::all(client.clone());
    let state = distribution::ServiceState {
        cut,
        auth: Arc::new(TokenReviewer::new(reviews, contract::TOKEN_AUDIENCE)),
        trust_domain: config.sidecar.trust_domain.as_str().into(),
        sessions: sessions.clone(),
        metrics: metrics.clone(),
        heartbeat: i.policy_heartbeat,
        stopped: stopped.clone(),
    };
    // Progress feeds only the status controller's Programmed condition.
    if config.status.enabled {
        let progress = distribution::ProgressWriter::new(
            client.clone(),
            &config.namespace,
            &config.instance,
            sessions.clone(),
            state.cut.clone(),
        );
        jobs.spawn(progress.run(stopped.clone()));
    }
    let settings = crate::status::policy_settings(config);
    jobs.spawn(distribution::run(
        stores,
        changed,
        settings,
        cut_tx,
        metrics.clone(),
        stopped.clone(),
    ));
    let debug = bind(config.debug_addr, "debug").await?;
    jobs.spawn(server::serve_plain(
        debug,
        admin::debug_router(sessions),
        stopped.clone(),
    ));
    Ok(distribution::router(state))
}

/// Drives `work` until `stopped`.
async fn until_stopped(
    work: futures::future::BoxFuture<'static, ()>,
    mut stopped: watch::Receiver<bool>,
) {
    tokio::select! {
        () = work => tracing::error!("the cluster watches ended"),
        _ = stopped.wait_for(|stop| *stop) => {}
    }
}

/// `agentnet-webhook ca …`: one CA command against the CA Secret; prints its result.
pub async fn run_ca(cli: CaCli) -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube_client(cli.kubeconfig.as_deref()).await?;
    let out = crate::identity::cli::run(cli, client).await?;
    print!("{out}");
    Ok(())
}

async fn kube_client(kubeconfig: Option<&std::path::Path>) -> Result<Client> {
    let config = kube_config(kubeconfig).await?;
    Client::try_from(config).context("building the kube client")
}

/// The client of the policy watches. kube's client retries a 503 after the server's
/// Retry-After, which a starting API server sets to 5 s: the watches' own backoff
/// (`watch_backoff`) is shorter, and a change made right after a restart must not
/// wait for that.
async fn watch_client(kubeconfig: Option<&std::path::Path>) -> Result<Client> {
    let mut config = kube_config(kubeconfig).await?;
    config.default_retry = false;
    Client::try_from(config).context("building the kube client for the policy watches")
}

async fn kube_config(kubeconfig: Option<&std::path::Path>) -> Result<kube::Config> {
    let Some(path) = kubeconfig else {
        return kube::Config::infer()
            .await
            .context("connecting to the API server");
    };
    let kubeconfig =
        Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    let options = KubeConfigOptions::default();
    kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .with_context(|| format!("loading {}", path.display()))
}

fn cert_source(config: &Config, client: &Client) -> Source {
    let s = &config.serving;
    let crds = config.conversion_crds();
    if s.tls_mode == TlsMode::Files {
        // cert-manager's cainjector maintains the webhook configuration's caBundle.
        let publisher = Publisher::new(client.clone(), None, crds, endpoint(config));
        return Source::Files {
            cert: s.tls_cert_file.clone(),
            key: s.tls_key_file.clone(),
            ca: s.tls_ca_file.clone(),
            publisher: Box::new(publisher),
        };
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &config.namespace);
    let webhook = Some(s.mutating_webhook.clone());
    let publisher = Publisher::new(client.clone(), webhook, crds, endpoint(config));
    Source::SelfSigned {
        store: Box::new(SecretStore::new(secrets, s.tls_secret.clone())),
        names: serving_cert::serving_names(
            &s.service_name,
            &config.namespace,
            &config.sidecar.cluster_domain,
            s.webhook_url.as_ref(),
            &s.tls_extra_sans,
        ),
        publisher: Box::new(publisher),
    }
}

/// How the API server reaches this webhook: the development URL, else the Service.
fn endpoint(config: &Config) -> Endpoint {
    let s = &config.serving;
    match &s.webhook_url {
        Some(url) => Endpoint::Url(url.to_string().trim_end_matches('/').to_owned()),
        None => Endpoint::Service {
            namespace: config.namespace.clone(),
            name: s.service_name.clone(),
            port: s.service_port,
        },
    }
}

fn webhook_routes(config: &Config, client: &Client, metrics: &Arc<Metrics>) -> Router {
    let reporter = Reporter {
        controller: "agentnet-webhook".into(),
        instance: Some(config.instance.clone()),
    };
    let mutate = MutateState {
        config: Arc::new(MutateConfig::from_config(config)),
        namespaces: Api::<Namespace>::all(client.clone()),
        recorder: Recorder::new(client.clone(), reporter),
        metrics: metrics.clone(),
    };
    let mutate = Router::new()
        .route("/mutate", post(crate::mutate::handler::mutate))
        .with_state(mutate);
    let convert = Router::new()
        .route("/convert", post(convert::convert))
        .with_state(metrics.clone());
    mutate
        .merge(convert)
        .layer(DefaultBodyLimit::max(MAX_REVIEW_BYTES))
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} listener to {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(listener = what, addr = %local, "listening");
    Ok(listener)
}

/// Returns on SIGTERM/SIGINT, or when a job ends on its own (which is a bug or a
/// fatal error: stop everything rather than run half a webhook).
async fn wait_for_stop(jobs: &mut JoinSet<()>) {
    tokio::select! {
        _ = signal() => tracing::info!("shutdown signal received"),
        ended = jobs.join_next() => tracing::error!(?ended, "a job ended unexpectedly; shutting down"),
    }
}

async fn signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the webhook");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn drain(mut jobs: JoinSet<()>) {
    let all = async { while jobs.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, all).await.is_err() {
        tracing::warn!("jobs did not stop within the grace period");
    }
}
