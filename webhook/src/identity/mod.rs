//! The identity service: short-lived SPIFFE X.509-SVIDs for opted-in workloads
//! (docs/identity.md).
//!
//! - `ca`: the CAs in their Secret (load, generate, rotate, watch);
//! - `csr`, `token_review`, `spiffe`, `issue`: the pure and I/O pieces of one issuance;
//! - `service`: `POST /v1/certify` on its own TLS listener (`listener` keeps that
//!   listener's certificate issued by the identity CA, so sidecars verify it with the
//!   trust bundle);
//! - `bundle`: the trust-bundle ConfigMap in every opted-in namespace (leader only);
//! - `pcr`: the PodCertificateRequest signer for `agentnet.dev/identity` (leader only);
//! - `cli`: `agentnet-webhook ca …`, the rotation commands.
//!
//! One Lease elects the replica that writes bundles and signs PodCertificateRequests;
//! every replica answers `/v1/certify`.

pub mod bundle;
pub mod ca;
pub mod cli;
pub mod csr;
pub mod issue;
pub mod listener;
pub mod pcr;
pub mod service;
pub mod spiffe;
pub mod token_review;

use std::sync::Arc;
use std::time::Duration;

use agentnet_api::contract;
use axum::Router;
use k8s_openapi::api::authentication::v1::TokenReview;
use kube::{Api, Client};
use tokio::net::TcpListener;
use tokio::sync::watch;

use self::ca::CaPool;
use self::ca::store::{CaStore, Loader};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::server;
use crate::status::leader::{self, LeaseSettings};

/// The CAs in use; `None` until the Secret has loaded.
pub type PoolRx = watch::Receiver<Option<Arc<CaPool>>>;

/// What every issuance needs to know.
#[derive(Clone, Debug)]
pub struct Settings {
    pub trust_domain: String,
    pub default_lifetime: Duration,
    pub max_lifetime: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "--trust-domain {0:?} is not a SPIFFE trust domain (lowercase letters, digits, '.', '-', '_')"
    )]
    TrustDomain(String),
    #[error("the identity listener's placeholder certificate: {0}")]
    Placeholder(String),
}

// === impl Settings ===

impl Settings {
    pub fn from_config(config: &Config) -> Result<Self, IdentityError> {
        let trust_domain = config.sidecar.trust_domain.clone();
        if !spiffe::is_trust_domain(&trust_domain) {
            return Err(IdentityError::TrustDomain(trust_domain));
        }
        Ok(Self {
            trust_domain,
            default_lifetime: config.identity.default_lifetime,
            max_lifetime: config.identity.max_lifetime,
        })
    }
}

/// Everything the identity job takes from the webhook.
pub struct IdentityService {
    client: Client,
    namespace: String,
    settings: Arc<Settings>,
    ca_secret: String,
    ca_generate: bool,
    lease: LeaseSettings,
    bundle_resync: Duration,
    pod_certificates: bool,
    names: Vec<String>,
    metrics: Arc<Metrics>,
}

// === impl IdentityService ===

impl IdentityService {
    pub fn new(
        config: &Config,
        client: Client,
        metrics: Arc<Metrics>,
    ) -> Result<Self, IdentityError> {
        let (i, s) = (&config.identity, &config.status);
        Ok(Self {
            client,
            namespace: config.namespace.clone(),
            settings: Arc::new(Settings::from_config(config)?),
            ca_secret: i.ca_secret.clone(),
            ca_generate: i.ca_generate,
            lease: LeaseSettings {
                name: i.lease_name.clone(),
                identity: config.instance.clone(),
                ..status_timings(s)
            },
            bundle_resync: i.bundle_resync,
            pod_certificates: i.pod_certificates,
            names: listener::names(config),
            metrics,
        })
    }

    /// Serves `/v1/certify` (and `extra`: the policy service) on `listener` and runs the CA loader, the election, the
    /// bundle distributor and (in PodCertificate mode) the signer until `stopped`.
    pub async fn run(self, listener: TcpListener, extra: Router, stopped: watch::Receiver<bool>) {
        let (resolver, tls) = match listener::placeholder(&self.names) {
            Ok(started) => started,
            Err(e) => return tracing::error!(error = %e, "identity service cannot start"),
        };
        let (pool_tx, pool) = watch::channel(None);
        let secrets = Api::namespaced(self.client.clone(), &self.namespace);
        let store = CaStore::new(secrets, self.ca_secret.clone());
        let loader = Loader::new(store, self.ca_generate, self.metrics.clone());
        let routes = service::router(self.certify_state(pool.clone())).merge(extra);
        let (leader_tx, leadership) = leader::channel();
        let leases = Api::namespaced(self.client.clone(), &self.namespace);
        let bundles =
            bundle::Distributor::new(&self.client, self.bundle_resync, self.pod_certificates);
        let signer = pcr::Signer::new(&self.client, self.settings.clone(), self.metrics.clone());
        tokio::join!(
            loader.run(pool_tx, stopped.clone()),
            server::serve_tls(listener, routes, tls, stopped.clone()),
            listener::maintain(pool.clone(), resolver, self.names.clone(), stopped.clone()),
            leader::elect(leases, self.lease.clone(), leader_tx, stopped.clone()),
            bundles.run(
                pool.clone(),
                leadership.clone(),
                self.metrics.clone(),
                stopped.clone()
            ),
            signer.run_if(self.pod_certificates, pool, leadership, stopped),
        );
    }

    fn certify_state(&self, pool: PoolRx) -> service::CertifyState {
        let reviews: Api<TokenReview> = Api::all(self.client.clone());
        service::CertifyState {
            pool,
            auth: Arc::new(token_review::TokenReviewer::new(
                reviews,
                contract::TOKEN_AUDIENCE,
            )),
            settings: self.settings.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// The identity Lease is timed like the status controller's.
fn status_timings(s: &crate::config::StatusConfig) -> LeaseSettings {
    LeaseSettings {
        name: String::new(),
        identity: String::new(),
        lease_duration: s.lease_duration,
        renew_deadline: s.renew_deadline,
        retry_period: s.retry_period,
    }
}

/// A TLS configuration error while starting is fatal for the identity job only.
impl From<server::TlsError> for IdentityError {
    fn from(e: server::TlsError) -> Self {
        Self::Placeholder(e.to_string())
    }
}
