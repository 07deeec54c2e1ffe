//! The Secret that lets every replica serve with the same CA: created if absent
//! (a replica that loses the race reads the winner's), reissued in place when the
//! serving certificate nears expiry or lacks a name, with optimistic concurrency so
//! two replicas never overwrite each other.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use time::OffsetDateTime;

use super::issue::{self, IssueError, Issued};

pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const TLS_CERT: &str = "tls.crt";
pub const TLS_KEY: &str = "tls.key";

/// The CA and the serving certificate it signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    pub ca: Issued,
    pub serving: Issued,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Secret {name}: {source}")]
    Api { name: String, source: kube::Error },
    #[error(transparent)]
    Issue(#[from] IssueError),
    #[error("Secret {0} lacks {1}")]
    Missing(String, &'static str),
}

pub struct SecretStore {
    api: Api<Secret>,
    name: String,
}

// === impl SecretStore ===

impl SecretStore {
    pub fn new(api: Api<Secret>, name: String) -> Self {
        Self { api, name }
    }

    /// The current pair for `names`, creating or reissuing it when needed.
    pub async fn load(&self, names: &[String]) -> Result<Pair, StoreError> {
        let now = OffsetDateTime::now_utc();
        let existing = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.api_error(e))?;
        let Some(secret) = existing else {
            let fresh =
                plan(None, names, now)?.ok_or(StoreError::Missing(self.name.clone(), TLS_CERT))?;
            return self.create(fresh).await;
        };
        let current = decode(&self.name, &secret);
        if let Err(e) = &current {
            tracing::warn!(secret = %self.name, error = %e, "serving-certificate Secret unreadable; reissuing");
        }
        match plan(current.as_ref().ok(), names, now)? {
            None => current,
            Some(fresh) => self.replace(secret, fresh).await,
        }
    }

    async fn create(&self, pair: Pair) -> Result<Pair, StoreError> {
        let secret = encode(&self.name, &pair, None);
        match self.api.create(&PostParams::default(), &secret).await {
            Ok(_) => Ok(pair),
            // Another replica created it first: use theirs.
            Err(e) if is_status(&e, 409) => self.read().await,
            Err(e) => Err(self.api_error(e)),
        }
    }

    async fn replace(&self, old: Secret, pair: Pair) -> Result<Pair, StoreError> {
        let secret = encode(&self.name, &pair, old.metadata.resource_version);
        match self
            .api
            .replace(&self.name, &PostParams::default(), &secret)
            .await
        {
            Ok(_) => {
                tracing::info!(secret = %self.name, "serving certificate reissued");
                Ok(pair)
            }
            // Another replica reissued it since we read it: use theirs.
            Err(e) if is_status(&e, 409) => self.read().await,
            Err(e) => Err(self.api_error(e)),
        }
    }

    async fn read(&self) -> Result<Pair, StoreError> {
        let secret = self
            .api
            .get(&self.name)
            .await
            .map_err(|e| self.api_error(e))?;
        decode(&self.name, &secret)
    }

    fn api_error(&self, source: kube::Error) -> StoreError {
        StoreError::Api {
            name: self.name.clone(),
            source,
        }
    }
}

/// What to write, if anything: a new CA and certificate when there is none or the CA
/// is expiring; a new certificate from the same CA when only it needs reissuing.
pub fn plan(
    current: Option<&Pair>,
    names: &[String],
    now: OffsetDateTime,
) -> Result<Option<Pair>, IssueError> {
    let ca = match current {
        Some(p) if !issue::needs_reissue(&issue::inspect(&p.ca.cert_pem)?, &[], now) => {
            p.ca.clone()
        }
        _ => issue::new_ca(now)?,
    };
    if let Some(p) = current.filter(|p| p.ca == ca)
        && !issue::needs_reissue(&issue::inspect(&p.serving.cert_pem)?, names, now)
    {
        return Ok(None);
    }
    let serving = issue::issue_serving(&ca, names, now)?;
    Ok(Some(Pair { ca, serving }))
}

fn encode(name: &str, pair: &Pair, resource_version: Option<String>) -> Secret {
    let entries = [
        (CA_CERT, &pair.ca.cert_pem),
        (CA_KEY, &pair.ca.key_pem),
        (TLS_CERT, &pair.serving.cert_pem),
        (TLS_KEY, &pair.serving.key_pem),
    ];
    let data = entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), ByteString(v.as_bytes().to_vec())));
    let labels = BTreeMap::from([(
        "app.kubernetes.io/managed-by".to_owned(),
        "agentnet-webhook".to_owned(),
    )]);
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels),
            resource_version,
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(data.collect()),
        ..Secret::default()
    }
}

fn decode(name: &str, secret: &Secret) -> Result<Pair, StoreError> {
    let get = |key: &'static str| {
        let bytes = secret.data.as_ref().and_then(|d| d.get(key));
        let text = bytes.and_then(|b| String::from_utf8(b.0.clone()).ok());
        text.ok_or_else(|| StoreError::Missing(name.to_owned(), key))
    };
    let pair = Pair {
        ca: Issued {
            cert_pem: get(CA_CERT)?,
            key_pem: get(CA_KEY)?,
        },
        serving: Issued {
            cert_pem: get(TLS_CERT)?,
            key_pem: get(TLS_KEY)?,
        },
    };
    issue::inspect(&pair.ca.cert_pem)?;
    issue::inspect(&pair.serving.cert_pem)?;
    Ok(pair)
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

#[cfg(test)]
mod tests;
