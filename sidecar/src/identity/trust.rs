//! The trust bundle: the roots every X.509-SVID (ours, our peers', the identity
//! service's) must chain to. Read from `--trust-bundle-file` (the mounted
//! `agentnet-trust-bundle` ConfigMap) and re-read whenever it changes, so a CA rotation
//! (a root added, later one removed) takes effect without a restart. A bundle that does
//! not parse is logged and ignored: the roots in use stay.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, TrustAnchor};
use tokio::task::JoinHandle;

use super::files::Watched;
use super::metrics::IdentityMetrics;

/// One parsed bundle: the roots as DER and as webpki trust anchors.
#[derive(Debug, Default)]
pub struct Roots {
    certs: Vec<CertificateDer<'static>>,
    anchors: Vec<TrustAnchor<'static>>,
}

/// The roots in force; readers take one `Arc` per handshake or validation.
#[derive(Debug, Default)]
pub struct TrustStore {
    roots: ArcSwap<Roots>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("the trust bundle has no PEM certificate")]
    Empty,
    #[error("the trust bundle is not PEM: {0}")]
    Pem(String),
    #[error("certificate {index} of the trust bundle is not a usable root: {message}")]
    Root { index: usize, message: String },
}

// === impl Roots ===

impl Roots {
    /// Every `CERTIFICATE` block of `pem`; at least one, each a parsable root.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TrustError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TrustError::Pem(e.to_string()))?;
        if certs.is_empty() {
            return Err(TrustError::Empty);
        }
        let anchors = certs
            .iter()
            .enumerate()
            .map(|(index, cert)| {
                webpki::anchor_from_trusted_cert(cert)
                    .map(|a| a.to_owned())
                    .map_err(|e| TrustError::Root {
                        index,
                        message: e.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Roots { certs, anchors })
    }

    pub fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The roots for a standard rustls server verifier (the identity service's).
    pub fn root_store(&self) -> RootCertStore {
        RootCertStore {
            roots: self.anchors.clone(),
        }
    }
}

// === impl TrustStore ===

impl TrustStore {
    pub fn new(roots: Roots) -> Arc<Self> {
        Arc::new(TrustStore {
            roots: ArcSwap::from_pointee(roots),
        })
    }

    pub fn load(&self) -> Arc<Roots> {
        self.roots.load_full()
    }

    pub fn replace(&self, roots: Roots) {
        self.roots.store(Arc::new(roots));
    }
}

/// Reads `path` now, then re-reads it every `interval` (in the returned task) and
/// swaps in each new bundle that parses.
pub async fn start(
    path: PathBuf,
    metrics: IdentityMetrics,
    interval: Duration,
) -> (Arc<TrustStore>, JoinHandle<()>) {
    let store = TrustStore::new(Roots::default());
    let mut file = Watched::new(path);
    if let Some(read) = file.changed().await {
        reload(&file, read, &store, &metrics);
    }
    let task = tokio::spawn(watch(file, store.clone(), metrics, interval));
    (store, task)
}

async fn watch(
    mut file: Watched,
    store: Arc<TrustStore>,
    metrics: IdentityMetrics,
    interval: Duration,
) {
    loop {
        tokio::time::sleep(interval).await;
        if let Some(read) = file.changed().await {
            reload(&file, read, &store, &metrics);
        }
    }
}

fn reload(
    file: &Watched,
    read: std::io::Result<Vec<u8>>,
    store: &TrustStore,
    metrics: &IdentityMetrics,
) {
    let path = file.path().display().to_string();
    let parsed = read
        .map_err(|e| e.to_string())
        .and_then(|pem| Roots::from_pem(&pem).map_err(|e| e.to_string()));
    match parsed {
        Ok(roots) => {
            tracing::info!(path, roots = roots.len(), "trust bundle loaded");
            metrics.trust_roots(roots.len());
            store.replace(roots);
        }
        Err(error) => tracing::warn!(
            path,
            error,
            "trust bundle unusable; keeping the roots in use"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::testing::Ca;

    #[test]
    fn parses_every_root_and_refuses_empty_or_garbage() {
        let (a, b) = (Ca::new(), Ca::new());
        let both = format!("{}{}", a.pem(), b.pem());
        assert_eq!(Roots::from_pem(both.as_bytes()).unwrap().len(), 2);
        assert!(matches!(Roots::from_pem(b""), Err(TrustError::Empty)));
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(Roots::from_pem(garbage).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_bundle_replaces_the_roots_and_a_broken_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca-bundle.pem");
        let (a, b) = (Ca::new(), Ca::new());
        std::fs::write(&path, a.pem()).unwrap();
        let interval = Duration::from_secs(1);
        let (store, task) = start(path.clone(), IdentityMetrics::default(), interval).await;
        assert_eq!(store.load().len(), 1);
        std::fs::write(&path, format!("{}{}", a.pem(), b.pem())).unwrap();
        settle().await;
        assert_eq!(store.load().len(), 2, "the added root is trusted");
        std::fs::write(&path, "not a bundle").unwrap();
        settle().await;
        assert_eq!(store.load().len(), 2, "a broken bundle changes nothing");
        task.abort();
    }

    /// Lets the watcher run a few polls (the clock is paused, so this is instant).
    async fn settle() {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tokio::task::yield_now().await;
        }
    }
}
