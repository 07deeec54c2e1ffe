//! Who is calling: the projected ServiceAccount token, checked by the API server with
//! a TokenReview for audience `agentnet`. The caller's identity comes from the review's
//! `status.user.username` and nothing else.

use std::fmt;

use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, TokenReviewStatus};
use kube::Api;
use kube::api::PostParams;

use super::spiffe::ServiceAccountRef;

/// A bearer token. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

/// Why a token does not authenticate a workload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 401: the token is invalid, expired, for another audience, or its
    /// ServiceAccount (or pod) no longer exists.
    #[error("the token was rejected: {0}")]
    Rejected(String),
    /// 401: the API server accepted the token but not for our audience.
    #[error("the token is not valid for audience {0:?}")]
    Audience(String),
    /// 401: a valid token, but not a ServiceAccount's.
    #[error("the token belongs to {0:?}, which is not a ServiceAccount")]
    NotServiceAccount(String),
    /// 503: the TokenReview itself failed; the caller should retry.
    #[error("cannot review the token: {0}")]
    Unavailable(String),
}

/// Authenticates a token to a ServiceAccount. The real one asks the API server; tests
/// use fakes.
pub trait Authenticator: Send + Sync {
    fn authenticate<'a>(&'a self, token: &'a Token) -> BoxFuture<'a, Result<Reviewed, AuthError>>;
}

/// Who a token authenticates: its ServiceAccount and, for a token bound to a pod (as
/// projected tokens are), that pod's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reviewed {
    pub account: ServiceAccountRef,
    pub pod: Option<String>,
}

/// The TokenReview `extra` key naming the pod a bound token belongs to.
const POD_NAME_EXTRA: &str = "authentication.kubernetes.io/pod-name";

/// Authenticates with a TokenReview (RBAC: `tokenreviews` `create`).
pub struct TokenReviewer {
    api: Api<TokenReview>,
    audience: String,
}

// === impl Token ===

impl Token {
    /// The token of an `Authorization: Bearer <token>` header value.
    pub fn from_authorization(header: &str) -> Option<Self> {
        let (scheme, token) = header.trim().split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
            .then(|| Self(token.to_owned()))
    }

    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

// === impl TokenReviewer ===

impl TokenReviewer {
    pub fn new(api: Api<TokenReview>, audience: impl Into<String>) -> Self {
        Self {
            api,
            audience: audience.into(),
        }
    }

    async fn review(&self, token: &Token) -> Result<Reviewed, AuthError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                audiences: Some(vec![self.audience.clone()]),
                token: token.0.clone(),
            },
            ..TokenReview::default()
        };
        let reviewed = self
            .api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        judge(&reviewed.status.unwrap_or_default(), &self.audience)
    }
}

impl Authenticator for TokenReviewer {
    fn authenticate<'a>(&'a self, token: &'a Token) -> BoxFuture<'a, Result<Reviewed, AuthError>> {
        Box::pin(self.review(token))
    }
}

/// The ServiceAccount a review's status authenticates for `audience`.
pub fn judge(status: &TokenReviewStatus, audience: &str) -> Result<Reviewed, AuthError> {
    if status.authenticated != Some(true) {
        let why = status.error.clone().filter(|e| !e.is_empty());
        return Err(AuthError::Rejected(
            why.unwrap_or_else(|| "not authenticated".into()),
        ));
    }
    // The API server only authenticates a token for an audience it was minted for, and
    // says which; an empty list would mean "the API server's own", which is not ours.
    let audiences = status.audiences.as_deref().unwrap_or_default();
    if !audiences.iter().any(|a| a == audience) {
        return Err(AuthError::Audience(audience.to_owned()));
    }
    let username = status
        .user
        .as_ref()
        .and_then(|u| u.username.as_deref())
        .unwrap_or_default();
    let account = ServiceAccountRef::from_username(username)
        .ok_or_else(|| AuthError::NotServiceAccount(username.to_owned()))?;
    let extra = status.user.as_ref().and_then(|u| u.extra.as_ref());
    let pod = extra
        .and_then(|e| e.get(POD_NAME_EXTRA))
        .and_then(|names| names.first().cloned());
    Ok(Reviewed { account, pod })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::authentication::v1::UserInfo;

    use super::*;

    fn status(authenticated: bool, audiences: &[&str], username: &str) -> TokenReviewStatus {
        TokenReviewStatus {
            authenticated: Some(authenticated),
            audiences: Some(audiences.iter().map(|a| (*a).to_owned()).collect()),
            user: Some(UserInfo {
                username: Some(username.to_owned()),
                ..UserInfo::default()
            }),
            error: None,
        }
    }

    #[test]
    fn authenticated_service_account_for_our_audience_is_accepted() {
        let s = status(true, &["agentnet"], "system:serviceaccount:team:agent");
        let sa = judge(&s, "agentnet").unwrap().account;
        assert_eq!((sa.namespace.as_str(), sa.name.as_str()), ("team", "agent"));
    }

    #[test]
    fn unauthenticated_tokens_are_rejected_with_the_reason() {
        let mut s = status(false, &[], "");
        s.error = Some("token has expired".into());
        assert_eq!(
            judge(&s, "agentnet"),
            Err(AuthError::Rejected("token has expired".into()))
        );
    }

    #[test]
    fn tokens_for_other_audiences_or_users_are_rejected() {
        let other = status(
            true,
            &["https://kubernetes.default.svc"],
            "system:serviceaccount:a:b",
        );
        assert_eq!(
            judge(&other, "agentnet"),
            Err(AuthError::Audience("agentnet".into()))
        );
        let none = status(true, &[], "system:serviceaccount:a:b");
        assert!(judge(&none, "agentnet").is_err());
        let user = status(true, &["agentnet"], "alice");
        assert_eq!(
            judge(&user, "agentnet"),
            Err(AuthError::NotServiceAccount("alice".into()))
        );
    }

    #[test]
    fn bearer_header_parsing_and_redaction() {
        let token = Token::from_authorization("Bearer abc.def").unwrap();
        assert_eq!(token, Token::new("abc.def"));
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
        for bad in ["abc", "Basic abc", "Bearer ", "Bearer a b"] {
            assert_eq!(Token::from_authorization(bad), None, "{bad}");
        }
    }
}
