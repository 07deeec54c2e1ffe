//! decide: the facts policy decides on, and what stops a request: a denial, a rate
//! limit, or an ExternalAuth authorizer that does not allow it (or cannot be asked).

use agentnet_policy::{
    Backend, Cause, Decision, ExternalAuthRequirement, HttpRequest, Index, Message, Request,
};
use bytes::Bytes;
use http::request::Parts;
use opentelemetry::trace::SpanKind;

use crate::request::audit::Record;
use crate::request::codec::Call;
use crate::request::extauth::{Allowed, CheckInput, ExternalAuthError};
use crate::request::identify::BackendRoute;
use crate::request::proxy::Proxy;
use crate::request::ratelimit::Refusal;
use crate::request::respond::{Denial, ProxyError, RateLimited};

/// The caller's identity, the backend, the HTTP request as the server will see it, and
/// the parsed message.
pub fn facts(
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
    Ok(Request::new(
        route.caller.clone(),
        route.backend.id().clone(),
        http,
        message,
    ))
}

/// Decides on the request and enforces the decision: the facts (kept for filtering
/// list results) and the headers an authorizer adds upstream.
pub async fn authorize(
    proxy: &Proxy,
    index: &Index,
    (parts, body): (&Parts, &Bytes),
    (route, call): (&BackendRoute<'_>, &mut Call),
    audit: &mut Record,
) -> Result<(Request, Allowed), ProxyError> {
    let request = facts(parts, route, std::mem::take(&mut call.message))?;
    let decision = decide(index, &request, audit);
    audit.decided(&decision);
    let checks = Enforce {
        decision: &decision,
        request: &request,
        call,
        backend: route.backend,
        parts,
        body,
    };
    let allowed = enforce(proxy, checks, audit).await?;
    Ok((request, allowed))
}

/// What `enforce` looks at for one request.
#[derive(Clone, Copy)]
pub struct Enforce<'a> {
    pub decision: &'a Decision,
    pub request: &'a Request,
    pub call: &'a Call,
    pub backend: &'a Backend,
    pub parts: &'a Parts,
    pub body: &'a Bytes,
}

/// The decision, with one span per evaluated rule when tracing is on (explain costs
/// more than decide, so it only runs then).
pub fn decide(index: &Index, request: &Request, audit: &mut Record) -> Decision {
    if !audit.trace.is_on() {
        return index.decide(request);
    }
    let explanation = index.explain(request);
    audit.trace.authorization(&explanation);
    explanation.decision
}

/// `Ok` (with the headers an authorizer adds upstream) when the request may proceed:
/// allowed by policy, within its rate limits, and allowed by any ExternalAuth it needs.
pub async fn enforce(
    proxy: &Proxy,
    e: Enforce<'_>,
    audit: &mut Record,
) -> Result<Allowed, ProxyError> {
    let to = (e.call.reply_id(), Some(e.backend.protocol()));
    if !e.decision.is_allowed() {
        let policy = deciding_policy(e.decision, e.backend);
        audit.policy.clone_from(&policy);
        let (rule, reason) = (e.decision.rule.clone(), e.decision.reason());
        return Err(denied(Denial::new(to, (policy, rule), reason)));
    }
    rate_limit(proxy, e, audit).await?;
    let Some(requirement) = &e.decision.external_auth else {
        return Ok(Allowed::default());
    };
    external_auth(proxy, e, requirement, audit).await
}

/// Takes a token from each limit that applies, or refuses the request (429; 503 when
/// a global limit cannot be checked).
async fn rate_limit(proxy: &Proxy, e: Enforce<'_>, audit: &mut Record) -> Result<(), ProxyError> {
    let limited = match proxy
        .rate_limiter
        .check(e.backend.rate_limits(), e.request)
        .await
    {
        Ok(()) => return Ok(()),
        Err(Refusal::Limited(limited)) => limited,
        Err(Refusal::Store(store)) => {
            audit.denied(None, None, store.to_string());
            return Err(ProxyError::RateLimitStore(store.to_string()));
        }
    };
    let backend = e.backend.id().to_string();
    proxy.metrics.rate_limited(&backend, &limited.limit);
    let policy = limited.policy.clone();
    let error = ProxyError::RateLimited(Box::new(RateLimited {
        id: e.call.reply_id(),
        policy: limited.policy,
        limit: limited.limit,
        retry_after: limited.retry_after,
    }));
    let reason = error.to_string();
    tracing::info!(backend, reason, "request rate-limited");
    audit.limited = true;
    audit.denied(Some(policy), None, reason);
    Err(error)
}

/// Asks the authorizer; any failure denies, naming the policy, rule and why.
async fn external_auth(
    proxy: &Proxy,
    e: Enforce<'_>,
    requirement: &ExternalAuthRequirement,
    audit: &mut Record,
) -> Result<Allowed, ProxyError> {
    let span = audit
        .trace
        .child("mcp.authorization.external", SpanKind::Client);
    span.attribute("security_rule.ruleset.name", requirement.policy.to_string());
    let input = CheckInput {
        parts: e.parts,
        body: e.body,
        request: e.request,
    };
    let result = proxy.external_auth.check(input, requirement).await;
    let outcome = result
        .as_ref()
        .map_or_else(ExternalAuthError::kind, |_| "allow");
    proxy
        .metrics
        .external_auth(&e.backend.id().to_string(), outcome);
    match result {
        Ok(allowed) => {
            span.end(Some("allow"), None);
            Ok(allowed)
        }
        Err(error) => {
            span.end(Some("deny"), Some("ExternalAuthDeniedError"));
            Err(external_auth_denied(e, requirement, &error, audit))
        }
    }
}

/// The denial of an ExternalAuth failure, audited with its reason.
fn external_auth_denied(
    e: Enforce<'_>,
    requirement: &ExternalAuthRequirement,
    error: &ExternalAuthError,
    audit: &mut Record,
) -> ProxyError {
    let by = (
        Some(requirement.policy.to_string()),
        requirement.rule.clone(),
    );
    audit.denied(by.0.clone(), by.1.clone(), error.to_string());
    let to = (e.call.reply_id(), Some(e.backend.protocol()));
    let mut denial = Denial::new(to, by, error.to_string());
    denial.authorizer = error.data();
    denied(denial)
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

#[cfg(test)]
mod tests;
