//! List filtering (beyond upstream, its issue #219): a `tools/list`, `prompts/list`,
//! `resources/list` or `resources/templates/list` result keeps exactly the entries
//! whose call (`tools/call`, `prompts/get`, `resources/read`) the caller may make.

use serde_json::Value;

use crate::index::Index;
use crate::request::{McpMessage, Message, Request};

/// A list method and the call its entries stand for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    Tools,
    Prompts,
    Resources,
    ResourceTemplates,
}

/// What filtering removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filtered {
    pub kept: usize,
    /// The names (or URIs) of the removed entries; `""` for an entry without one.
    pub removed: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("{0:?} is not a list method policy can filter")]
    NotAList(String),
    #[error("the result has no {0} array")]
    Shape(&'static str),
}

// === impl ListKind ===

impl ListKind {
    /// Every kind, in the order their arrays are looked for in a result.
    pub const ALL: [ListKind; 4] = [
        ListKind::Tools,
        ListKind::Prompts,
        ListKind::Resources,
        ListKind::ResourceTemplates,
    ];

    /// The result member that holds this kind's entries (`tools`, …).
    pub fn array(self) -> &'static str {
        self.fields().0
    }

    pub fn from_method(method: &str) -> Option<Self> {
        match method {
            "tools/list" => Some(ListKind::Tools),
            "prompts/list" => Some(ListKind::Prompts),
            "resources/list" => Some(ListKind::Resources),
            "resources/templates/list" => Some(ListKind::ResourceTemplates),
            _ => None,
        }
    }

    /// The result's array and the entry field that names the target.
    fn fields(self) -> (&'static str, &'static str) {
        match self {
            ListKind::Tools => ("tools", "name"),
            ListKind::Prompts => ("prompts", "name"),
            ListKind::Resources => ("resources", "uri"),
            ListKind::ResourceTemplates => ("resourceTemplates", "uriTemplate"),
        }
    }

    /// The call an entry stands for. A template stands for reading its literal
    /// template, so only rules that admit it without naming a URI (or naming the
    /// template itself) show it.
    fn call(self, key: &str) -> McpMessage {
        match self {
            ListKind::Tools => McpMessage::tool_call(key),
            ListKind::Prompts => McpMessage::new("prompts/get").with_name(key),
            ListKind::Resources | ListKind::ResourceTemplates => {
                McpMessage::new("resources/read").with_uri(key)
            }
        }
    }
}

/// Decides the entries of one list response, one at a time, for the caller of the
/// list call; from [`Index::list_entries`]. It lets a caller that keeps entries in its
/// own form (the sidecar keeps them as raw JSON) filter without building a `Value`.
#[derive(Debug)]
pub struct ListEntries<'i> {
    index: &'i Index,
    kind: ListKind,
    /// The list call turned into the entries' call; only its name or URI changes.
    call: Request,
}

// === impl Index ===

impl Index {
    /// Removes from `result` (the JSON-RPC `result` of `list_request`'s response) the
    /// entries whose call the same caller may not make. Calls are decided without
    /// arguments; an ExternalAuth requirement does not hide an entry (the authorizer
    /// is asked when the call is made).
    pub fn filter_list(
        &self,
        list_request: &Request,
        result: &mut Value,
    ) -> Result<Filtered, FilterError> {
        let mut decider = self.list_entries(list_request)?;
        let (array, key) = decider.fields();
        let entries = result
            .get_mut(array)
            .and_then(Value::as_array_mut)
            .ok_or(FilterError::Shape(array))?;
        let mut filtered = Filtered::default();
        entries.retain(|entry| {
            let name = entry.get(key).and_then(Value::as_str);
            let keep = decider.keeps(name);
            if !keep {
                filtered.removed.push(name.unwrap_or_default().to_owned());
            }
            keep
        });
        filtered.kept = entries.len();
        Ok(filtered)
    }

    /// The decider for the entries of `list_request`'s response, or why it has none.
    pub fn list_entries(&self, list_request: &Request) -> Result<ListEntries<'_>, FilterError> {
        let method = list_request
            .mcp()
            .map(|m| m.method.as_str())
            .unwrap_or_default();
        let kind = ListKind::from_method(method)
            .ok_or_else(|| FilterError::NotAList(method.to_owned()))?;
        let mut call = list_request.clone();
        call.message = Message::Mcp(kind.call(""));
        Ok(ListEntries {
            index: self,
            kind,
            call,
        })
    }

    /// The decider for `kind` entries shown to the caller of `request` (any request of
    /// that caller to the backend: a list can arrive on any of its streams).
    pub fn entries(&self, request: &Request, kind: ListKind) -> ListEntries<'_> {
        let mut call = request.clone();
        call.message = Message::Mcp(kind.call(""));
        ListEntries {
            index: self,
            kind,
            call,
        }
    }

    /// Whether `list_request`'s caller may call the entry `key` of a `kind` list.
    pub fn may_use(&self, list_request: &Request, kind: ListKind, key: &str) -> bool {
        let mut call = list_request.clone();
        call.message = Message::Mcp(kind.call(key));
        self.decide(&call).is_allowed()
    }
}

// === impl ListEntries ===

impl ListEntries<'_> {
    /// The result's array (`tools`, …) and the entry field naming the target.
    pub fn fields(&self) -> (&'static str, &'static str) {
        self.kind.fields()
    }

    /// Whether the entry named `key` stays; an entry without a name never does.
    pub fn keeps(&mut self, key: Option<&str>) -> bool {
        let Some(key) = key else {
            return false;
        };
        // The call's name or URI is rewritten in place: one allocation per list, not
        // two per entry.
        if let Message::Mcp(m) = &mut self.call.message {
            let target = match self.kind {
                ListKind::Tools | ListKind::Prompts => &mut m.name,
                ListKind::Resources | ListKind::ResourceTemplates => &mut m.uri,
            };
            let target = target.get_or_insert_with(String::new);
            target.clear();
            target.push_str(key);
        }
        self.index.allows(&self.call)
    }
}
