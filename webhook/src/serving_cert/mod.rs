//! The webhook's serving certificate: either self-managed (a CA and certificate shared
//! by all replicas through a Secret, the CA published to the webhook configuration
//! and CRDs) or read from files kept by cert-manager, whose cainjector publishes the
//! CA. Either way it is re-read periodically and swapped into the TLS listener.

pub mod issue;
pub mod publish;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::server::{CertResolver, TlsError};
use publish::{PublishError, Publisher};
use store::{SecretStore, StoreError};

/// What to serve with, and the CA to publish (self-signed mode).
#[derive(Clone, PartialEq, Eq)]
pub struct Material {
    pub chain_pem: String,
    pub key_pem: String,
    pub ca_pem: Option<String>,
}

pub enum Source {
    SelfSigned {
        store: Box<SecretStore>,
        names: Vec<String>,
        publisher: Box<Publisher>,
    },
    Files {
        cert: PathBuf,
        key: PathBuf,
        /// The CA to publish to CRDs (cert-manager's `ca.crt`), if any.
        ca: Option<PathBuf>,
        publisher: Box<Publisher>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("reading {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
}

// === impl Source ===

impl Source {
    /// The current certificate, creating or renewing it in self-signed mode.
    pub async fn load(&self) -> Result<Material, CertError> {
        match self {
            Self::SelfSigned { store, names, .. } => {
                let pair = store.load(names).await?;
                Ok(Material {
                    chain_pem: pair.serving.cert_pem,
                    key_pem: pair.serving.key_pem,
                    ca_pem: Some(pair.ca.cert_pem),
                })
            }
            Self::Files { cert, key, ca, .. } => Ok(Material {
                chain_pem: read(cert).await?,
                key_pem: read(key).await?,
                ca_pem: match ca {
                    Some(path) => Some(read(path).await?),
                    None => None,
                },
            }),
        }
    }

    async fn publish(&self, ca_pem: &str) -> Result<(), CertError> {
        let (Self::SelfSigned { publisher, .. } | Self::Files { publisher, .. }) = self;
        Ok(publisher.publish(ca_pem).await?)
    }
}

async fn read(path: &PathBuf) -> Result<String, CertError> {
    tokio::fs::read_to_string(path)
        .await
        .map_err(|source| CertError::File {
            path: path.clone(),
            source,
        })
}

/// DNS names (and IPs) the self-signed certificate must carry: the Service by every
/// name the API server may use, the host of a development URL, and extras.
pub fn serving_names(
    service: &str,
    namespace: &str,
    cluster_domain: &str,
    url: Option<&http::Uri>,
    extra: &[String],
) -> Vec<String> {
    let mut names = vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.{cluster_domain}"),
        format!("{service}.{namespace}"),
        service.to_owned(),
    ];
    let host = url
        .and_then(http::Uri::host)
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'));
    names.extend(host.map(str::to_owned));
    names.extend(
        extra
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
    );
    names.dedup();
    names
}

/// Loads, swaps and publishes every `interval` until shutdown. Errors are logged and
/// retried: the certificate in use stays until a valid replacement exists.
pub async fn maintain(
    source: Source,
    resolver: Arc<CertResolver>,
    metrics: Arc<Metrics>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = refresh(&source, &resolver, &metrics).await {
            tracing::warn!(error = %e, "serving certificate refresh failed; keeping the current one");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// One round: load, swap if changed, publish.
pub async fn refresh(
    source: &Source,
    resolver: &CertResolver,
    metrics: &Metrics,
) -> Result<(), CertError> {
    let material = source.load().await?;
    if resolver.update(&material.chain_pem, &material.key_pem)? {
        tracing::info!("serving certificate reloaded");
    }
    if let Ok(info) = issue::inspect(&material.chain_pem) {
        metrics.serving_cert_expires_at(info.not_after.unix_timestamp());
    }
    match &material.ca_pem {
        Some(ca) => source.publish(ca).await,
        None => Ok(()),
    }
}
