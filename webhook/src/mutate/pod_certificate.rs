//! PodCertificate mode: a `podCertificate` projected volume for the sidecar, whose
//! kubelet-held key and certificate (from our PodCertificateRequest signer) replace the
//! call to the identity service. The volume asks for the pod's certificate lifetime,
//! which the signer honours within its bounds (at least the API server's 1 h).

use agentnet_api::contract::{identity, mount};
use k8s_openapi::api::core::v1::{
    PodCertificateProjection, ProjectedVolumeSource, Volume, VolumeProjection,
};

use super::tuning::Tuning;

pub const POD_CERTIFICATE_VOLUME: &str = "agentnet-pod-certificate";
/// The API server's shortest `maxExpirationSeconds`.
const MIN_EXPIRATION_SECONDS: i32 = 3600;

/// The projected volume: an ECDSA P-256 key and its chain in one credential bundle.
pub fn volume(tuning: &Tuning) -> Volume {
    let seconds = i32::try_from(tuning.cert_lifetime.as_secs()).unwrap_or(i32::MAX);
    let projection = PodCertificateProjection {
        signer_name: identity::SIGNER_NAME.into(),
        key_type: identity::POD_CERTIFICATE_KEY_TYPE.into(),
        credential_bundle_path: Some(super::sidecar::file_name(mount::POD_CERTIFICATE_FILE)),
        max_expiration_seconds: Some(seconds.max(MIN_EXPIRATION_SECONDS)),
        ..PodCertificateProjection::default()
    };
    Volume {
        name: POD_CERTIFICATE_VOLUME.into(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(vec![VolumeProjection {
                pod_certificate: Some(projection),
                ..VolumeProjection::default()
            }]),
            ..ProjectedVolumeSource::default()
        }),
        ..Volume::default()
    }
}
