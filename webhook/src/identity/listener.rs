//! The identity listener's own certificate, issued by the identity CA's signer so
//! sidecars verify it with the trust bundle they already mount. It is reissued when
//! the CAs change and daily; until the CA loads, a throwaway self-signed certificate
//! lets the listener start, which no client trusts (fail closed).

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;

use super::issue::issue_server;
use super::{IdentityError, PoolRx};
use crate::config::Config;
use crate::server::CertResolver;
use crate::serving_cert::serving_names;

/// How often the listener's certificate (valid 7 days) is reissued anyway.
const REISSUE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// The names sidecars may use: the Service (identity port) in every form, the host of
/// a development webhook URL (e.g. 127.0.0.1), the host of an explicit identity URL,
/// and extras.
pub fn names(config: &Config) -> Vec<String> {
    let s = &config.serving;
    let mut extra: Vec<String> = config.identity.extra_sans.clone();
    let identity_url = config.sidecar.identity_url.as_deref();
    let host = identity_url
        .and_then(|u| u.parse::<http::Uri>().ok())
        .and_then(|u| u.host().map(|h| h.trim_matches(['[', ']']).to_owned()));
    extra.extend(host);
    let mut names = serving_names(
        &s.service_name,
        &config.namespace,
        &config.sidecar.cluster_domain,
        s.webhook_url.as_ref(),
        &extra,
    );
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// The listener's resolver, serving a self-signed certificate nobody trusts until
/// `maintain` swaps in one from the identity CA, and its TLS configuration.
pub fn placeholder(
    names: &[String],
) -> Result<(Arc<CertResolver>, Arc<rustls::ServerConfig>), IdentityError> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| IdentityError::Placeholder(e.to_string()))?;
    let key = certified.signing_key.serialize_pem();
    let resolver = Arc::new(CertResolver::new(&certified.cert.pem(), &key)?);
    let tls = Arc::new(resolver.server_config()?);
    Ok((resolver, tls))
}

/// Reissues the listener's certificate whenever the CAs change, and daily.
pub async fn maintain(
    mut pool: PoolRx,
    resolver: Arc<CertResolver>,
    names: Vec<String>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let current = pool.borrow_and_update().clone();
        if let Some(pool) = current {
            let issued = issue_server(pool.signer(), &names, OffsetDateTime::now_utc());
            let swapped = issued
                .map_err(|e| e.to_string())
                .and_then(|(chain, key)| resolver.update(&chain, &key).map_err(|e| e.to_string()));
            match swapped {
                Ok(_) => {
                    tracing::info!(signer = %pool.signer().id, "identity listener certificate issued")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot issue the identity listener certificate; keeping the current one")
                }
            }
        }
        tokio::select! {
            changed = pool.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(REISSUE_EVERY) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_the_service_and_local_urls() {
        let config = Config::for_test(&[
            "--webhook-url=https://127.0.0.1:9443",
            "--identity-url=https://10.1.2.3:8444",
            "--identity-extra-sans=identity.example.com",
        ]);
        let names = names(&config);
        for want in [
            "agentnet-webhook.agentnet-system.svc",
            "agentnet-webhook.agentnet-system.svc.cluster.local",
            "127.0.0.1",
            "10.1.2.3",
            "identity.example.com",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
    }
}
