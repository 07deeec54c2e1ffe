//! Validate, then publish. A new certificate becomes an `Svid` only after its chain
//! verifies against the trust bundle, its only URI SAN is the SPIFFE ID we expect, its
//! key is ours and it is valid now; the store then swaps key and chain in together (one
//! `Arc<CertifiedKey>`, so no handshake ever pairs a new chain with an old key), and
//! until then the previous certificate stays in use.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::watch;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::trust::Roots;
use super::verify::{self, SvidError, Usage};

/// A verified X.509-SVID and its key. `Debug` never shows the key.
pub struct Svid {
    key: Arc<CertifiedKey>,
    spiffe_id: String,
    /// Lowercase hex, as the identity service logs it.
    serial: String,
    not_before: SystemTime,
    not_after: SystemTime,
}

/// What validation reads from a leaf.
struct Leaf {
    spiffe_id: String,
    serial: String,
    not_before: i64,
    not_after: i64,
}

/// The certificate in use, if any; the TLS configurations read it per handshake.
#[derive(Debug)]
pub struct CertStore {
    current: ArcSwapOption<Svid>,
    /// Counts publishes, so waiters (readiness, tests) can follow them.
    published: watch::Sender<u64>,
}

/// The store as rustls sees it, on both sides of a handshake.
#[derive(Clone, Debug)]
pub struct Resolver(pub Arc<CertStore>);

// === impl Svid ===

impl Svid {
    /// Checks `chain` (leaf first) and `key` against `roots`, `expected` and `now`.
    pub fn validate(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        expected: &str,
        roots: &Roots,
        now: SystemTime,
    ) -> Result<Self, SvidError> {
        let leaf = chain.first().ok_or(SvidError::Empty)?;
        let facts = Leaf::read(leaf)?;
        facts.check(expected, unix(now))?;
        let at = UnixTime::since_unix_epoch(now.duration_since(UNIX_EPOCH).unwrap_or_default());
        verify::chain(roots, leaf, &chain[1..], at, Usage::Both)?;
        let key = certified_key(chain, key)?;
        Ok(Svid {
            key: Arc::new(key),
            spiffe_id: facts.spiffe_id,
            serial: facts.serial,
            not_before: from_unix(facts.not_before),
            not_after: from_unix(facts.not_after),
        })
    }

    pub fn spiffe_id(&self) -> &str {
        &self.spiffe_id
    }

    pub fn serial(&self) -> &str {
        &self.serial
    }

    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The chain, leaf first (public material only).
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.key.cert
    }
}

// === impl Leaf ===

impl Leaf {
    fn read(der: &CertificateDer<'_>) -> Result<Self, SvidError> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| SvidError::Parse(e.to_string()))?;
        let validity = cert.validity();
        Ok(Leaf {
            spiffe_id: verify::spiffe_id_of(&cert)?,
            serial: cert
                .raw_serial()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
        })
    }

    /// The identity we expect, and valid at `now` (Unix seconds).
    fn check(&self, expected: &str, now: i64) -> Result<(), SvidError> {
        if self.spiffe_id != expected {
            let (found, expected) = (self.spiffe_id.clone(), expected.to_owned());
            return Err(SvidError::Identity { found, expected });
        }
        if !(self.not_before <= now && now < self.not_after) {
            let (not_before, not_after) = (self.not_before, self.not_after);
            return Err(SvidError::Time {
                not_before,
                not_after,
            });
        }
        Ok(())
    }
}

/// Key and chain as rustls uses them; the key must be the leaf's.
fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<CertifiedKey, SvidError> {
    let signing = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| SvidError::Key(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| SvidError::KeyMismatch(e.to_string()))?;
    Ok(certified)
}

fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

fn from_unix(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

impl fmt::Debug for Svid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Svid")
            .field("spiffe_id", &self.spiffe_id)
            .field("serial", &self.serial)
            .field(
                "not_after",
                &humantime::format_rfc3339_seconds(self.not_after),
            )
            .field("key", &"<redacted>")
            .finish()
    }
}

// === impl CertStore ===

impl CertStore {
    pub fn new() -> Arc<Self> {
        Arc::new(CertStore {
            current: ArcSwapOption::empty(),
            published: watch::channel(0).0,
        })
    }

    /// Swaps in a validated certificate; the previous one is used by no new handshake.
    pub fn publish(&self, svid: Svid) {
        self.current.store(Some(Arc::new(svid)));
        self.published.send_modify(|n| *n += 1);
    }

    pub fn current(&self) -> Option<Arc<Svid>> {
        self.current.load_full()
    }

    /// Certificates published so far.
    pub fn publishes(&self) -> u64 {
        *self.published.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.published.subscribe()
    }
}

// === impl Resolver ===

impl ResolvesClientCert for Resolver {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.0.current().map(|svid| svid.key.clone())
    }

    fn has_certs(&self) -> bool {
        self.0.current().is_some()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.current().map(|svid| svid.key.clone())
    }
}

#[cfg(test)]
mod tests;
