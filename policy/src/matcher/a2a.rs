//! agentnet's A2A extension: a rule's `authorization.a2a` lists methods (in either
//! generation's names) and skills; the agent card is a base-protocol request.

use agentnet_api::v1alpha1::A2aAttributes;

use super::Mismatch;
use crate::request::{A2aMethod, Message, Request, is_agent_card_path};

/// Omitted (or empty) lists do not constrain.
#[derive(Debug, Default)]
pub(crate) struct A2aMatch {
    methods: Vec<A2aMethod>,
    skills: Vec<String>,
}

// === impl A2aMatch ===

impl A2aMatch {
    pub fn compile(a2a: Option<&A2aAttributes>) -> Self {
        let Some(a2a) = a2a else {
            return A2aMatch::default();
        };
        A2aMatch {
            methods: a2a
                .methods
                .iter()
                .flatten()
                .map(|m| A2aMethod::parse(m))
                .collect(),
            skills: a2a.skills.clone().unwrap_or_default(),
        }
    }

    pub fn is_restrictive(&self) -> bool {
        !self.methods.is_empty() || !self.skills.is_empty()
    }

    /// `base` is the rule's MATCH_BASE_PROTOCOL_METHODS: with it, a restrictive rule
    /// still admits the agent card, as an MCP rule admits initialize.
    pub fn matches(&self, req: &Request, base: bool) -> Result<(), Mismatch> {
        if !self.is_restrictive() {
            return Ok(());
        }
        match &req.message {
            Message::A2a(m) => {
                if !self.methods.is_empty() && !self.methods.contains(&m.method) {
                    return Err(Mismatch::A2aMethod);
                }
                // A message without a skill is not admitted by a rule that lists skills.
                let skill_ok = self.skills.is_empty()
                    || m.skill.as_ref().is_some_and(|s| self.skills.contains(s));
                if skill_ok {
                    Ok(())
                } else {
                    Err(Mismatch::A2aSkill)
                }
            }
            Message::None if is_agent_card(req) => {
                if base {
                    Ok(())
                } else {
                    Err(Mismatch::AgentCard)
                }
            }
            Message::None => Err(Mismatch::A2aMethod),
            Message::Mcp(_) => Err(Mismatch::Protocol),
        }
    }
}

fn is_agent_card(req: &Request) -> bool {
    matches!(req.http.method.as_str(), "GET" | "HEAD") && is_agent_card_path(&req.http.path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{A2aMessage, BackendRef, HttpRequest, McpMessage};
    use crate::source::Source;

    fn rule(methods: Option<&[&str]>, skills: Option<&[&str]>) -> A2aMatch {
        let list = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        A2aMatch::compile(Some(&A2aAttributes {
            methods: methods.map(list),
            skills: skills.map(list),
        }))
    }

    fn req(method: &str, path: &str, message: Message) -> Request {
        let http = HttpRequest::new(method, path, "agent", 80).unwrap();
        Request::new(
            Source::anonymous(),
            BackendRef::new("ns", "a"),
            http,
            message,
        )
    }

    fn send(method: &str, skill: Option<&str>) -> Request {
        let mut m = A2aMessage::new(method);
        m.skill = skill.map(str::to_owned);
        req("POST", "/", Message::A2a(m))
    }

    #[test]
    fn methods_match_in_either_generation() {
        for listed in ["SendMessage", "message/send"] {
            let m = rule(Some(&[listed]), None);
            assert_eq!(
                m.matches(&send("SendMessage", None), false),
                Ok(()),
                "{listed}"
            );
            assert_eq!(
                m.matches(&send("message/send", None), false),
                Ok(()),
                "{listed}"
            );
            assert_eq!(
                m.matches(&send("tasks/get", None), false),
                Err(Mismatch::A2aMethod),
                "{listed}"
            );
        }
    }

    #[test]
    fn skills_require_a_listed_skill() {
        let m = rule(None, Some(&["summarize"]));
        assert_eq!(
            m.matches(&send("SendMessage", Some("summarize")), false),
            Ok(())
        );
        assert_eq!(
            m.matches(&send("SendMessage", Some("delete-all")), false),
            Err(Mismatch::A2aSkill)
        );
        assert_eq!(
            m.matches(&send("GetTask", None), false),
            Err(Mismatch::A2aSkill)
        );
    }

    #[test]
    fn the_agent_card_is_a_base_protocol_request() {
        let card = req("GET", "/.well-known/agent-card.json", Message::None);
        assert_eq!(A2aMatch::compile(None).matches(&card, false), Ok(()));
        assert_eq!(
            rule(Some(&["SendMessage"]), None).matches(&card, false),
            Err(Mismatch::AgentCard)
        );
        assert_eq!(
            rule(Some(&["SendMessage"]), None).matches(&card, true),
            Ok(())
        );
        let other = req("GET", "/tasks", Message::None);
        assert_eq!(
            rule(Some(&["SendMessage"]), None).matches(&other, true),
            Err(Mismatch::A2aMethod)
        );
    }

    #[test]
    fn an_a2a_rule_never_matches_mcp() {
        let mcp = req("POST", "/mcp", Message::Mcp(McpMessage::tool_call("x")));
        assert_eq!(
            rule(Some(&["SendMessage"]), None).matches(&mcp, true),
            Err(Mismatch::Protocol)
        );
        assert_eq!(A2aMatch::compile(None).matches(&mcp, false), Ok(()));
    }
}
