//! An ExternalAuth policy's `backendRef` into the authorizer's address: a Service (the
//! only kind supported, as upstream), its port (5000 when unset, as upstream) and ready
//! endpoints. A reference to another namespace needs a ReferenceGrant there (upstream
//! does not check): without one the policy cannot be enforced, and requests it covers
//! are denied.

use agentnet_api::gateway::HttpExternalAuthFilter;
use agentnet_api::reference_grant::ReferenceGrant;

use super::backend::{endpoints, find_service};
use super::{Settings, Snapshot};
use crate::decision::AuthService;
use crate::report::{Condition, Reason};

/// Upstream's port when the backendRef has none.
pub const DEFAULT_AUTHZ_PORT: u16 = 5000;

/// The authorizer's address, or why it cannot be used (with the status reason).
pub(super) fn resolve(
    filter: &HttpExternalAuthFilter,
    policy_namespace: &str,
    snapshot: &Snapshot,
    settings: &Settings,
) -> Result<AuthService, (Reason, String)> {
    let r = &filter.backend_ref;
    let namespace = permitted(filter, policy_namespace, snapshot)?;
    let port = r
        .port
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(DEFAULT_AUTHZ_PORT);
    let Some(service) = find_service(snapshot, namespace, &r.name) else {
        let why = format!("Service {namespace}/{} not found", r.name);
        return Err((Reason::BackendNotFound, why));
    };
    let cluster_ip = service
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .filter(|ip| !ip.is_empty() && ip != "None");
    let domain = &settings.cluster_domain;
    Ok(AuthService {
        authority: format!("{}.{namespace}.svc.{domain}:{port}", r.name),
        endpoints: endpoints(service, port, snapshot),
        cluster_ip,
        port,
    })
}

/// The backendRef's namespace, if its kind is supported and a reference there is
/// permitted (the policy's own namespace, or a ReferenceGrant allows it).
fn permitted<'f>(
    filter: &'f HttpExternalAuthFilter,
    policy_namespace: &'f str,
    snapshot: &Snapshot,
) -> Result<&'f str, (Reason, String)> {
    let r = &filter.backend_ref;
    let group = r.group.as_deref().unwrap_or("");
    let kind = r.kind.as_deref().unwrap_or("Service");
    if (group, kind) != ("", "Service") {
        let why = format!("backendRef kind {kind}.{group} is not supported: it must be a Service");
        return Err((Reason::InvalidKind, why));
    }
    let namespace = r.namespace.as_deref().unwrap_or(policy_namespace);
    if namespace != policy_namespace && !granted(snapshot, policy_namespace, namespace, &r.name) {
        let why = format!(
            "backendRef Service {namespace}/{} is in another namespace and no ReferenceGrant in {namespace} allows XAccessPolicies from {policy_namespace} to refer to it",
            r.name
        );
        return Err((Reason::RefNotPermitted, why));
    }
    Ok(namespace)
}

/// `ResolvedRefs` of an ExternalAuth policy.
pub(super) fn condition(resolved: &Result<AuthService, (Reason, String)>) -> Condition {
    match resolved {
        Ok(_) => Condition::ok(Reason::ResolvedRefs, "All references resolved"),
        Err((reason, why)) => Condition::failed(*reason, why.clone()),
    }
}

fn granted(snapshot: &Snapshot, from_ns: &str, to_ns: &str, name: &str) -> bool {
    snapshot.reference_grants.iter().any(|g: &ReferenceGrant| {
        g.metadata.namespace.as_deref() == Some(to_ns)
            && g.permits(
                (agentnet_api::GROUP, "XAccessPolicy", from_ns),
                ("", "Service", name),
            )
    })
}

#[cfg(test)]
mod tests;
