//! The pure part of the signer: what to write on one PodCertificateRequest.

use agentnet_api::contract::identity::SIGNER_NAME;
use k8s_openapi::api::certificates::v1::{PodCertificateRequest, PodCertificateRequestStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use time::{Duration, OffsetDateTime};

use crate::identity::Settings;
use crate::identity::ca::CaPool;
use crate::identity::csr::{Csr, CsrError};
use crate::identity::issue::{BACKDATE, Leaf, Validity, issue_svid};
use crate::identity::spiffe::ServiceAccountRef;

/// The API server's shortest allowed lifetime.
const MIN_LIFETIME: Duration = Duration::hours(1);
/// What the API server fills in when `maxExpirationSeconds` is unset.
const DEFAULT_MAX_EXPIRATION: i64 = 86_400;

/// What to write on one request.
#[derive(Debug)]
pub enum Outcome {
    Issued {
        leaf: Leaf,
        spiffe_id: String,
        begin_refresh_at: OffsetDateTime,
    },
    Denied {
        reason: &'static str,
        message: String,
    },
    Failed {
        reason: &'static str,
        message: String,
    },
}

/// The pure decision for one request at `now`.
pub fn decide(
    pcr: &PodCertificateRequest,
    pool: &CaPool,
    settings: &Settings,
    now: OffsetDateTime,
) -> Outcome {
    let (csr, spiffe_id) = match admit(pcr, settings) {
        Ok(admitted) => admitted,
        Err(denied) => return denied,
    };
    let validity = validity(pcr.spec.max_expiration_seconds, settings, now);
    let signer = pool.signer();
    if validity.not_after > signer.not_after {
        let message = format!("the signing CA expires at {}", signer.not_after);
        return failed("SignerExpiring", message);
    }
    match issue_svid(signer, &csr.public_key, &spiffe_id, validity) {
        Ok(leaf) => Outcome::Issued {
            leaf,
            spiffe_id,
            begin_refresh_at: validity.not_before + validity.lifetime() / 2,
        },
        Err(e) => failed("IssueFailed", e.to_string()),
    }
}

fn failed(reason: &'static str, message: String) -> Outcome {
    Outcome::Failed { reason, message }
}

/// The request's key and SPIFFE ID, or why it is denied.
fn admit(pcr: &PodCertificateRequest, settings: &Settings) -> Result<(Csr, String), Outcome> {
    let spec = &pcr.spec;
    let deny = |reason, message: String| Outcome::Denied { reason, message };
    if spec
        .unverified_user_annotations
        .as_ref()
        .is_some_and(|a| !a.is_empty())
    {
        let message = format!("{SIGNER_NAME} defines no user annotations");
        return Err(deny("UnrecognizedUserAnnotation", message));
    }
    let namespace = pcr.metadata.namespace.as_deref().unwrap_or_default();
    let sa = &spec.service_account_name;
    let account = ServiceAccountRef::new(namespace, sa).ok_or_else(|| {
        deny(
            "InvalidServiceAccount",
            format!("{namespace}/{sa} is no SPIFFE path"),
        )
    })?;
    let spiffe_id = account.spiffe_id(&settings.trust_domain);
    let csr = Csr::from_der(&spec.stub_pkc_s10_request.0).map_err(|e| match e {
        CsrError::KeyType => deny("UnsupportedKeyType", "use keyType ECDSAP256".into()),
        e => deny("InvalidRequest", e.to_string()),
    })?;
    csr.check_requests_only(&spiffe_id)
        .map_err(|e| deny("IdentityMismatch", e.to_string()))?;
    Ok((csr, spiffe_id))
}

/// From a minute ago, for the requested maximum within [1 h, --identity-max-lifetime].
fn validity(
    max_expiration_seconds: Option<i32>,
    settings: &Settings,
    now: OffsetDateTime,
) -> Validity {
    let requested = max_expiration_seconds.map_or(DEFAULT_MAX_EXPIRATION, i64::from);
    let cap = Duration::try_from(settings.max_lifetime).unwrap_or(MIN_LIFETIME);
    let lifetime = Duration::seconds(requested).min(cap).max(MIN_LIFETIME);
    let not_before = now.replace_nanosecond(0).unwrap_or(now) - BACKDATE;
    Validity {
        not_before,
        not_after: not_before + lifetime,
    }
}

/// The status to write for `outcome`.
pub fn status_for(
    outcome: &Outcome,
    now: OffsetDateTime,
    generation: Option<i64>,
) -> PodCertificateRequestStatus {
    let at = Stamp { now, generation };
    let terminal = |condition| PodCertificateRequestStatus {
        conditions: Some(vec![condition]),
        ..PodCertificateRequestStatus::default()
    };
    match outcome {
        Outcome::Issued {
            leaf,
            spiffe_id,
            begin_refresh_at,
        } => PodCertificateRequestStatus {
            certificate_chain: Some(leaf.chain_pem.clone()),
            not_before: Some(time(leaf.not_before)),
            not_after: Some(time(leaf.not_after)),
            begin_refresh_at: Some(time(*begin_refresh_at)),
            conditions: Some(vec![at.condition(
                "Issued",
                "Issued",
                &format!("issued to {spiffe_id}"),
            )]),
        },
        Outcome::Denied { reason, message } => terminal(at.condition("Denied", reason, message)),
        Outcome::Failed { reason, message } => terminal(at.condition("Failed", reason, message)),
    }
}

/// When a condition is written, and for which generation.
struct Stamp {
    now: OffsetDateTime,
    generation: Option<i64>,
}

impl Stamp {
    fn condition(&self, type_: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.to_owned(),
            status: "True".to_owned(),
            reason: reason.to_owned(),
            message: message.to_owned(),
            last_transition_time: time(self.now),
            observed_generation: self.generation,
        }
    }
}

/// Issued, Denied and Failed are terminal.
pub fn is_final(pcr: &PodCertificateRequest) -> bool {
    let conditions = pcr
        .status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten());
    conditions
        .into_iter()
        .any(|c| ["Issued", "Denied", "Failed"].contains(&c.type_.as_str()) && c.status == "True")
}

fn time(t: OffsetDateTime) -> Time {
    Time(Timestamp::from_second(t.unix_timestamp()).unwrap_or(Timestamp::UNIX_EPOCH))
}

#[cfg(test)]
mod tests;
