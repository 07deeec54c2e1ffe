//! Compiled RateLimitPolicy limits: which requests a limit counts, the key of the
//! bucket a request draws from, and the bucket's rate. The buckets themselves (time,
//! state) belong to the caller: this crate stays pure.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::request::{A2aMethod, Message, Request};
use crate::rule::{PolicyRef, SourceMatch};

/// One limit of one RateLimitPolicy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub policy: PolicyRef,
    pub name: String,
    #[serde(serialize_with = "display")]
    pub(crate) source: SourceMatch,
    pub(crate) scope: Scope,
    pub(crate) key_by: KeyBy,
    /// Tokens added per `period`.
    pub requests: u32,
    #[serde(serialize_with = "seconds")]
    pub period: Duration,
    /// Bucket capacity.
    pub burst: u32,
    /// Shared by every sidecar (in Redis), rather than per sidecar.
    pub global: bool,
}

/// Which requests count.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Scope {
    #[default]
    Any,
    Mcp {
        methods: Option<Vec<String>>,
        tools: Option<Vec<String>>,
    },
    A2a {
        #[serde(skip)]
        methods: Option<Vec<A2aMethod>>,
        skills: Option<Vec<String>>,
    },
}

/// What makes two requests share a bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyBy {
    pub source: bool,
    pub method: bool,
    pub tool: bool,
    pub skill: bool,
}

// === impl RateLimit ===

impl RateLimit {
    /// Whether `req` counts against this limit.
    pub fn applies(&self, req: &Request) -> bool {
        if self.source.matches(req).is_err() {
            return false;
        }
        match (&self.scope, &req.message) {
            (Scope::Any, _) => true,
            (Scope::Mcp { methods, tools }, Message::Mcp(m)) => {
                listed(methods.as_deref(), &m.method)
                    && tools
                        .as_deref()
                        .is_none_or(|t| m.name.as_deref().is_some_and(|n| t.iter().any(|x| x == n)))
            }
            (Scope::A2a { methods, skills }, Message::A2a(m)) => {
                methods.as_deref().is_none_or(|ms| ms.contains(&m.method))
                    && skills.as_deref().is_none_or(|s| {
                        m.skill.as_deref().is_some_and(|k| s.iter().any(|x| x == k))
                    })
            }
            _ => false,
        }
    }

    /// The bucket key of `req` within this limit: the parts `keyBy` names, joined by
    /// newlines (which no SPIFFE ID, method or tool name contains unescaped).
    pub fn key(&self, req: &Request) -> String {
        let mut key = String::new();
        if self.key_by.source {
            key.push_str(req.source.spiffe_id().unwrap_or("anonymous"));
        }
        let (method, target, skill) = parts(&req.message);
        for (on, part) in [
            (self.key_by.method, method),
            (self.key_by.tool, target),
            (self.key_by.skill, skill),
        ] {
            if on {
                let _ = write!(key, "\n{}", part.unwrap_or_default());
            }
        }
        key
    }

    /// `policy/limit`, as denials and metrics name it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.policy, self.name)
    }
}

fn listed(list: Option<&[String]>, value: &str) -> bool {
    list.is_none_or(|l| l.iter().any(|x| x == value))
}

/// The method, the tool/prompt/resource and the skill of a message.
fn parts(m: &Message) -> (Option<&str>, Option<&str>, Option<&str>) {
    match m {
        Message::Mcp(m) => (
            Some(m.method.as_str()),
            m.name.as_deref().or(m.uri.as_deref()),
            None,
        ),
        Message::A2a(m) => (Some(m.method.as_str()), None, m.skill.as_deref()),
        Message::None => (None, None, None),
    }
}

/// Parses `1s`, `500ms`, `1m30s`, `2h` (whole numbers of ms, s, m, h), at most 24h.
pub(crate) fn parse_period(text: &str) -> Result<Duration, String> {
    let invalid = || format!("period {text:?} is not a duration such as 1s, 500ms or 1m30s");
    let (mut total, mut rest) = (Duration::ZERO, text);
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let n: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let unit = match &rest[digits..digits + unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(invalid()),
        };
        total = total.saturating_add(unit);
        rest = &rest[digits + unit_len..];
    }
    match total {
        Duration::ZERO => Err(format!("period {text:?} must be longer than 0")),
        t if t > Duration::from_secs(24 * 3600) => {
            Err(format!("period {text:?} is longer than 24h"))
        }
        t => Ok(t),
    }
}

fn display<S: serde::Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_sums_of_whole_units() {
        assert_eq!(parse_period("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_period("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_period("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "1", "s", "1d", "0s", "25h", "1.5s"] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
    }
}
