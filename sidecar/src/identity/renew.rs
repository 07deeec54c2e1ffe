//! Renewal: a fresh key and CSR, the identity service's answer validated, then
//! published; the next renewal at about half the remaining lifetime (45–55 %, jittered
//! so pods started together do not renew together). A failure never exits and never
//! drops the certificate in use: it is retried with capped exponential backoff (1 s
//! doubling, at most 150 s, jittered) while the old certificate keeps serving.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::client::CertifyError;
use super::csr::{self, CsrError, KeyAndCsr};
use super::metrics::IdentityMetrics;
use super::store::{CertStore, Svid};
use super::trust::TrustStore;
use super::verify::SvidError;

/// The longest wait between two failed attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(150);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Whatever signs our CSRs: the identity service, or a fake in tests.
pub trait Certify: Send + Sync {
    /// Sends `csr_pem`; the issued chain (PEM, leaf first).
    fn certify(&self, csr_pem: &str) -> impl Future<Output = Result<String, CertifyError>> + Send;
}

/// The renewal task's state.
#[derive(Debug)]
pub struct Renewer<C> {
    pub certifier: C,
    /// The SPIFFE ID the certificate must carry.
    pub expected: String,
    pub trust: Arc<TrustStore>,
    pub store: Arc<CertStore>,
    pub metrics: IdentityMetrics,
}

#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    #[error(transparent)]
    Csr(#[from] CsrError),
    #[error(transparent)]
    Certify(#[from] CertifyError),
    #[error("the issued certificate is not used: {0}")]
    Invalid(#[from] SvidError),
    #[error("the issued chain is not PEM certificates: {0}")]
    Chain(String),
}

// === impl Renewer ===

impl<C: Certify> Renewer<C> {
    /// Renews forever (the task is aborted at shutdown).
    pub async fn run(self) {
        let mut failures = 0u32;
        loop {
            let delay = match self.renew().await {
                Ok(svid) => {
                    failures = 0;
                    self.publish(svid)
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    self.failed(&e, failures)
                }
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt: a new key, its CSR signed, the result validated.
    async fn renew(&self) -> Result<Svid, RenewError> {
        let KeyAndCsr { key, csr_pem } = csr::generate(&self.expected)?;
        let chain = parse_chain(&self.certifier.certify(&csr_pem).await?)?;
        let roots = self.trust.load();
        let svid = Svid::validate(chain, key, &self.expected, &roots, SystemTime::now())?;
        Ok(svid)
    }

    /// Publishes `svid`; returns when to renew next.
    fn publish(&self, svid: Svid) -> Duration {
        let delay = refresh_delay(SystemTime::now(), svid.not_after(), rand::random());
        tracing::info!(
            spiffe.id = svid.spiffe_id(),
            serial = svid.serial(),
            not_after = %humantime::format_rfc3339_seconds(svid.not_after()),
            renew_in = ?delay,
            "certificate renewed"
        );
        let not_after = svid.not_after();
        self.store.publish(svid);
        self.metrics.renewed(not_after);
        delay
    }

    /// Counts and logs a failure; returns when to retry.
    fn failed(&self, e: &RenewError, failures: u32) -> Duration {
        let delay = backoff(failures, rand::random());
        self.metrics.renewal_failed();
        let current = self.store.current();
        tracing::warn!(
            error = %e,
            failures,
            retry_in = ?delay,
            serial = current.as_ref().map(|s| s.serial()),
            "certificate renewal failed; the certificate in use stays"
        );
        delay
    }
}

/// Every certificate of a PEM chain, at least one.
pub fn parse_chain(pem: &str) -> Result<Vec<CertificateDer<'static>>, RenewError> {
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RenewError::Chain(e.to_string()))?;
    if chain.is_empty() {
        return Err(RenewError::Chain("no certificate".into()));
    }
    Ok(chain)
}

/// 45–55 % (by `unit` in [0, 1)) of the time left until `not_after`.
pub fn refresh_delay(now: SystemTime, not_after: SystemTime, unit: f64) -> Duration {
    let remaining = not_after.duration_since(now).unwrap_or_default();
    remaining.mul_f64(0.45 + 0.1 * unit.clamp(0.0, 1.0))
}

/// After the `failures`-th failure in a row: 1 s doubling per failure, capped at
/// `MAX_BACKOFF`, then scaled into its upper half by `unit` in [0, 1).
pub fn backoff(failures: u32, unit: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let base = FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF);
    base.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests;
