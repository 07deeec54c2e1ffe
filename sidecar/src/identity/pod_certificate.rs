//! PodCertificate mode (`--pod-certificate-file`): the kubelet holds the key, gets it
//! certified through a PodCertificateRequest, and writes key and chain to one PEM file
//! (a PKCS#8 `PRIVATE KEY`, then the leaf and intermediates), rewriting it at each
//! refresh. The sidecar makes no CSR: it polls the file and validates and publishes
//! each new content exactly as a certificate from the identity service. A content that
//! fails (say, before the trust bundle that verifies it has arrived) is retried on every
//! poll; the certificate in use stays meanwhile.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::files::Watched;
use super::metrics::IdentityMetrics;
use super::store::{CertStore, Svid};
use super::trust::TrustStore;
use super::verify::SvidError;

#[derive(Debug)]
pub struct PodCertificate {
    pub path: PathBuf,
    pub expected: String,
    pub trust: Arc<TrustStore>,
    pub store: Arc<CertStore>,
    pub metrics: IdentityMetrics,
    pub interval: Duration,
}

// === impl PodCertificate ===

impl PodCertificate {
    /// Polls forever (the task is aborted at shutdown).
    pub async fn run(self) {
        let mut file = Watched::new(self.path.clone());
        let mut last_error = None;
        loop {
            if let Some(read) = file.changed().await {
                match self.load(read) {
                    Ok(svid) => {
                        last_error = None;
                        self.publish(svid);
                    }
                    Err(error) => {
                        self.failed(error, &mut last_error);
                        file.retry();
                    }
                }
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    fn load(&self, read: std::io::Result<Vec<u8>>) -> Result<Svid, String> {
        let pem = read.map_err(|e| format!("reading {}: {e}", self.path.display()))?;
        let (chain, key) = parse(&pem).map_err(|e| e.to_string())?;
        let roots = self.trust.load();
        Svid::validate(chain, key, &self.expected, &roots, SystemTime::now())
            .map_err(|e| e.to_string())
    }

    fn publish(&self, svid: Svid) {
        tracing::info!(
            spiffe.id = svid.spiffe_id(),
            serial = svid.serial(),
            not_after = %humantime::format_rfc3339_seconds(svid.not_after()),
            "pod certificate loaded"
        );
        let not_after = svid.not_after();
        self.store.publish(svid);
        self.metrics.renewed(not_after);
    }

    /// Counts and logs each distinct failure once (the content is retried every poll).
    fn failed(&self, error: String, last: &mut Option<String>) {
        if last.as_ref() == Some(&error) {
            return;
        }
        self.metrics.renewal_failed();
        tracing::warn!(
            path = %self.path.display(),
            error,
            "pod certificate unusable; the certificate in use stays"
        );
        *last = Some(error);
    }
}

/// The credential bundle: its private key and its certificates (leaf first).
pub fn parse(
    pem: &[u8],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), SvidError> {
    let key = PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| SvidError::Key(format!("no PEM private key: {e}")))?;
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SvidError::Parse(e.to_string()))?;
    if chain.is_empty() {
        return Err(SvidError::Empty);
    }
    Ok((chain, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::testing::{Ca, ID_A, ID_B};

    fn bundle(ca: &Ca, uri: &str) -> String {
        let (chain, key) = ca.leaf(&[uri]);
        let key_pem = pem_block("PRIVATE KEY", key.secret_der());
        key_pem + &pem_block("CERTIFICATE", &chain[0])
    }

    fn pem_block(label: &str, der: &[u8]) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    #[tokio::test(start_paused = true)]
    async fn loads_each_new_bundle_and_keeps_the_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.pem");
        let ca = Ca::new();
        let (store, metrics) = (CertStore::new(), IdentityMetrics::default());
        let source = PodCertificate {
            path: path.clone(),
            expected: ID_A.into(),
            trust: TrustStore::new(ca.roots()),
            store: store.clone(),
            metrics: metrics.clone(),
            interval: Duration::from_secs(1),
        };
        let task = tokio::spawn(source.run());
        std::fs::write(&path, bundle(&ca, ID_A)).unwrap();
        let mut published = store.subscribe();
        published.changed().await.unwrap();
        let first = store.current().unwrap().serial().to_owned();
        std::fs::write(&path, bundle(&ca, ID_B)).unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            store.current().unwrap().serial(),
            first,
            "wrong identity not used"
        );
        assert_eq!(metrics.renewals_failed(), 1, "counted once while retried");
        std::fs::write(&path, bundle(&ca, ID_A)).unwrap();
        published.changed().await.unwrap();
        assert_ne!(store.current().unwrap().serial(), first);
        assert_eq!(metrics.renewals_ok(), 2);
        task.abort();
        let (chain, _) = parse(bundle(&ca, ID_A).as_bytes()).unwrap();
        assert_eq!(chain.len(), 1);
        assert!(matches!(parse(ca.pem().as_bytes()), Err(SvidError::Key(_))));
    }
}
