//! agentnet's policy engine: pure (no I/O, no async, no logging), shared by the
//! sidecar (data plane), the webhook's status controller and `explain`.
//!
//! # Use
//!
//! ```
//! use agentnet_policy::{compile, BackendRef, HttpRequest, McpMessage, Message, Request, Settings, Snapshot, Source};
//!
//! let index = compile(&Snapshot::default(), &Settings::default()); // once per change
//! let req = Request::new(
//!     Source::from_spiffe_id("spiffe://cluster.local/ns/agents/sa/planner")?,
//!     BackendRef::new("tools", "mcp"),
//!     HttpRequest::new("POST", "/mcp", "mcp.tools:8080", 80)?,
//!     Message::Mcp(McpMessage::tool_call("get-sum")),
//! );
//! let decision = index.decide(&req); // per request
//! assert!(!decision.is_allowed()); // no such XBackend: fail closed
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! 1. [`compile`] a [`Snapshot`] (XBackends, v1alpha1 XAccessPolicies, Services,
//!    EndpointSlices) with [`Settings`] (trust domain, cluster domain, backend default)
//!    into an immutable [`Index`]. It never fails as a whole: [`Index::report`] says,
//!    per policy and target and per backend, what a status writer needs. Regexes and
//!    CEL are compiled here, never per request; [`recompile`] reuses the CEL programs
//!    of the index it replaces.
//! 2. Find the destination: [`Index::resolve`] (`host`, `port`, caller namespace) for
//!    absolute-form and CONNECT requests, [`Index::backend`] for `/backends/<ns>/<name>/`.
//!    A [`Backend`] tells its [`Protocol`], path, [`Destination`] (Service endpoints or
//!    external host) and whether it [has tool rules](Backend::has_tool_rules).
//! 3. Build a [`Request`] (source, backend, HTTP facts, the message parsed with
//!    [`McpMessage::parse`] or [`A2aMessage::parse`]) and [`Index::decide`]. A
//!    [`Decision`] names the verdict, the deciding policy and rule, the [`Cause`], the
//!    default that applied, and any ExternalAuth requirement the caller must enforce.
//! 4. [`Index::explain`] records every rule evaluated; [`Index::filter_list`] filters
//!    `tools/list`, `prompts/list` and `resources/list` results for the caller.
//! 5. `Index` serializes (serde) to what `/config` shows; [`cel_variables`] lists the
//!    CEL vocabulary.
//!
//! An `Index` is `Send + Sync` and immutable: build a new one per change (with
//! [`recompile`]) and swap it in (e.g. `ArcSwap`); one `Arc<Index>` per request keeps
//! `decide`, `explain` and `filter_list` consistent. A2A requests name their methods in
//! either generation; [`A2aMethod`] normalizes them to v1.0 names.
//!
//! Semantics (upstream's, and every rule agentnet adds) are in `docs/policy.md`.

pub mod authority;
mod cel;
mod compile;
mod decision;
mod evaluate;
mod explain;
mod filter;
mod index;
mod matcher;
mod ratelimit;
mod report;
mod request;
mod rule;
mod source;
mod view;

pub use crate::cel::variables as cel_variables;
pub use compile::{
    BackendDefault, BackendDefaultError, DEFAULT_AUTHZ_PORT, MAX_POLICIES_PER_TARGET, Settings,
    Snapshot, compile, recompile,
};
pub use decision::{
    AppliedDefault, AuthService, Cause, Decision, ExternalAuthRequirement, Verdict,
};
pub use explain::{Explanation, Outcome, Step};
pub use filter::{FilterError, Filtered, ListEntries, ListKind};
pub use index::{Backend, Destination, Endpoint, Index, Lookup, Protocol};
pub use matcher::Mismatch;
pub use ratelimit::RateLimit;
pub use report::{
    ACCEPTED, BackendReport, Condition, PROGRAMMED, PolicyReport, RESOLVED_REFS, Reason, Report,
    TargetReport,
};
pub use request::{
    A2aMessage, A2aMethod, BackendRef, Headers, HttpRequest, JsonRpcKind, McpMessage, Message,
    MessageError, Request, RequestError, is_agent_card_path,
};
pub use rule::PolicyRef;
pub use source::{Source, SourceError, service_account_spiffe_id};
pub use view::{Caller, REDACTED_SOURCE, ViewMessage, applies, view};
