//! decide: the facts policy decides on, and what a decision stops. A denial, and an
//! allow that needs an ExternalAuth the sidecar cannot call yet, end the request here.

use agentnet_policy::{Backend, Cause, Decision, HttpRequest, Message, Request};
use http::request::Parts;

use crate::audit::Record;
use crate::codec::Call;
use crate::identify::BackendRoute;
use crate::proxy::Proxy;
use crate::respond::{Denial, ProxyError};

/// The agent's identity, the backend, the HTTP request as the server will see it, and
/// the parsed message.
pub fn facts(
    proxy: &Proxy,
    parts: &Parts,
    route: &BackendRoute<'_>,
    message: Message,
) -> Result<Request, ProxyError> {
    let method = parts.method.as_str();
    let mut http = HttpRequest::new(method, &route.path, &route.authority, 80)
        .map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            http.headers.append(name.as_str(), value);
        }
    }
    let source = proxy.identity.source().clone();
    Ok(Request::new(
        source,
        route.backend.id().clone(),
        http,
        message,
    ))
}

/// `Ok` when the request may proceed.
pub async fn enforce(
    proxy: &Proxy,
    (decision, request): (&Decision, &Request),
    call: &Call,
    backend: &Backend,
    audit: &mut Record,
) -> Result<(), ProxyError> {
    let to = (call.reply_id(), Some(backend.protocol()));
    if !decision.is_allowed() {
        let policy = deciding_policy(decision, backend);
        audit.policy.clone_from(&policy);
        let (rule, reason) = (decision.rule.clone(), decision.reason());
        return Err(denied(Denial::new(to, (policy, rule), reason)));
    }
    let Some(requirement) = &decision.external_auth else {
        return Ok(());
    };
    let Err(e) = proxy.external_auth.check(request, requirement).await else {
        return Ok(());
    };
    let by = (
        Some(requirement.policy.to_string()),
        requirement.rule.clone(),
    );
    audit.denied(by.0.clone(), by.1.clone(), e.to_string());
    Err(denied(Denial::new(to, by, e.to_string())))
}

/// Logs the denial (once, here) and makes it the request's error.
pub fn denied(denial: Denial) -> ProxyError {
    let (policy, rule) = (denial.policy.as_deref(), denial.rule.as_deref());
    tracing::info!(policy, rule, reason = %denial.reason, "request denied");
    ProxyError::Denied(Box::new(denial))
}

/// The policy a denial names: the deciding one, the rejected ones a backend fails
/// closed on, or else every policy that was evaluated.
pub fn deciding_policy(decision: &Decision, backend: &Backend) -> Option<String> {
    if let Some(p) = &decision.policy {
        return Some(p.to_string());
    }
    let names: Vec<String> = match &decision.cause {
        Cause::FailClosed { rejected } => rejected.iter().map(ToString::to_string).collect(),
        _ => backend.policies().map(ToString::to_string).collect(),
    };
    (!names.is_empty()).then(|| names.join(", "))
}
