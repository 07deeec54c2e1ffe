//! filter: on an MCP backend whose policies restrict the caller, every list a response
//! carries (`tools`, `prompts`, `resources`, `resourceTemplates` in a JSON-RPC
//! `result`) keeps only the entries the caller may use, whatever stream carries it: a
//! POST response (JSON or SSE), the GET stream, a resumed stream (`Last-Event-ID`), the
//! same event repeated; lists are found by their shape, never by pairing a response
//! with its request. Responses are decided by the same index that allowed the request.
//!
//! It fails closed: a message it cannot read exactly as a client would (ambiguous
//! members, an SSE event whose data is not JSON, a body over the limit, a compressed
//! body) is withheld with an error, never passed through. Upstream is asked not to
//! compress (`Accept-Encoding` is removed from requests to MCP backends).

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use agentnet_policy::{Index, ListKind, Request};
use bytes::Bytes;
use futures::stream;
use http::Response;
use http::header::{self, HeaderValue};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, StreamBody};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::request::body::{self, BoxError, ProxyBody, ReadError};
use crate::request::codec::ambiguity;
use crate::request::codec::sse::{self, Splitter};

/// What filtering one response needs: the index and the request it answers, whose
/// caller the entries are decided for.
#[derive(Debug)]
pub struct ResponseFilter {
    pub index: Arc<Index>,
    pub request: Request,
    /// Largest JSON body or SSE event read.
    pub limit: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("the response is larger than {limit} bytes, too large to check for lists")]
    TooLarge { limit: usize },
    #[error("the response is compressed ({0}), so its lists cannot be filtered")]
    Encoded(String),
    #[error("an event of the stream is not a JSON-RPC message, so it cannot be checked for lists")]
    NotJson,
    #[error("a response message is ambiguous: {0}")]
    Ambiguous(ambiguity::Ambiguity),
    #[error("a list result has an unexpected shape: {0} is not an array")]
    Shape(&'static str),
    #[error("reading the response failed: {0}")]
    Read(BoxError),
}

/// The upstream response, with every list filtered: SSE event by event, any other
/// body read whole (bounded). A body that is not JSON carries no JSON-RPC message and
/// passes unchanged.
pub async fn response<B>(
    resp: Response<B>,
    filter: ResponseFilter,
) -> Result<Response<ProxyBody>, FilterError>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    if let Some(encoding) = resp.headers().get(header::CONTENT_ENCODING)
        && !encoding.as_bytes().eq_ignore_ascii_case(b"identity")
    {
        let encoding = String::from_utf8_lossy(encoding.as_bytes()).into_owned();
        return Err(FilterError::Encoded(encoding));
    }
    let is_sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        });
    let (mut parts, incoming) = resp.into_parts();
    if is_sse {
        return Ok(Response::from_parts(parts, sse_body(incoming, filter)));
    }
    let bytes = read(incoming, filter.limit).await?;
    let filtered = match filter.json_body(&bytes)? {
        Some(filtered) => filtered,
        None => return Ok(Response::from_parts(parts, body::full(bytes))),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(Response::from_parts(parts, body::full(filtered)))
}

async fn read<B>(incoming: B, limit: usize) -> Result<Bytes, FilterError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    body::collect(incoming, limit).await.map_err(|e| match e {
        ReadError::TooLarge { limit } => FilterError::TooLarge { limit },
        ReadError::Read(e) => FilterError::Read(e),
    })
}

// === impl ResponseFilter ===

impl ResponseFilter {
    pub fn new(index: Arc<Index>, request: Request, limit: usize) -> Self {
        ResponseFilter {
            index,
            request,
            limit,
        }
    }

    /// A whole body: `None` when it is not JSON (no message to check) or needs no change.
    fn json_body(&self, bytes: &[u8]) -> Result<Option<Bytes>, FilterError> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Ok(None);
        };
        if serde_json::from_str::<IgnoredAny>(text).is_err() {
            return Ok(None);
        }
        Ok(self.messages(text)?.map(Bytes::from))
    }

    /// One SSE event as it goes to the client (filtered, or as it was).
    pub(crate) fn check_event(&self, event: &Bytes) -> Result<Bytes, FilterError> {
        Ok(self.event(event)?.unwrap_or_else(|| event.clone()))
    }

    /// One SSE event, filtered; `None` keeps it as it is.
    fn event(&self, event: &Bytes) -> Result<Option<Bytes>, FilterError> {
        // No data, or empty data (a resumability primer): no message.
        let Some(data) = sse::data(event).filter(|d| !d.trim().is_empty()) else {
            return Ok(None);
        };
        if serde_json::from_str::<IgnoredAny>(&data).is_err() {
            return Err(FilterError::NotJson);
        }
        Ok(self.messages(&data)?.map(|d| sse::with_data(event, &d)))
    }

    /// A JSON text holding one message or a batch of them: checked for ambiguity, each
    /// list filtered. `None` when nothing changed.
    fn messages(&self, text: &str) -> Result<Option<String>, FilterError> {
        ambiguity::check(text.as_bytes()).map_err(FilterError::Ambiguous)?;
        if text.trim_start().starts_with('[') {
            let batch: Vec<&RawValue> =
                serde_json::from_str(text).map_err(|_| FilterError::NotJson)?;
            let mut changed = false;
            let mut out = Vec::with_capacity(batch.len());
            for message in batch {
                match self.message(message.get())? {
                    Some(filtered) => {
                        changed = true;
                        out.push(filtered);
                    }
                    None => out.push(message.get().to_owned()),
                }
            }
            return Ok(changed.then(|| format!("[{}]", out.join(","))));
        }
        self.message(text)
    }

    /// One message: its result's lists filtered; `None` when it holds none.
    ///
    /// Only the envelope, the result object and each entry's name are parsed; entries
    /// stay raw JSON and the kept ones are copied out verbatim. Parsing a 100-tool list
    /// (schemas, descriptions) into `Value`s and printing it again cost more than all
    /// the rest of the request.
    fn message(&self, text: &str) -> Result<Option<String>, FilterError> {
        let Ok(mut message) = serde_json::from_str::<RawObject<'_>>(text) else {
            return Ok(None);
        };
        let Some(result) = message.get("result") else {
            return Ok(None);
        };
        let Ok(mut result) = serde_json::from_str::<RawObject<'_>>(result.get()) else {
            return Ok(None);
        };
        let mut filtered = Vec::new();
        for kind in ListKind::ALL {
            let Some(list) = result.get(kind.array()) else {
                continue;
            };
            let entries = serde_json::from_str::<Vec<&RawValue>>(list.get())
                .map_err(|_| FilterError::Shape(kind.array()))?;
            filtered.push((kind, self.keep(kind, entries)?));
        }
        if filtered.is_empty() {
            return Ok(None);
        }
        for (kind, kept) in &filtered {
            result.insert(Cow::Borrowed(kind.array()), kept);
        }
        let result = serde_json::value::to_raw_value(&result).map_err(|_| FilterError::NotJson)?;
        message.insert(Cow::Borrowed("result"), &result);
        serde_json::to_string(&message)
            .map(Some)
            .map_err(|_| FilterError::NotJson)
    }

    /// The entries of a `kind` list the caller may use, as a raw JSON array.
    fn keep(&self, kind: ListKind, entries: Vec<&RawValue>) -> Result<Box<RawValue>, FilterError> {
        let mut decider = self.index.entries(&self.request, kind);
        let key = decider.fields().1;
        let (mut kept, mut count, mut removed) = (String::with_capacity(entries.len() * 16), 0, 0);
        kept.push('[');
        for entry in entries {
            if decider.keeps(entry_key(entry, key).as_deref()) {
                if kept.len() > 1 {
                    kept.push(',');
                }
                kept.push_str(entry.get());
                count += 1;
            } else {
                removed += 1;
            }
        }
        kept.push(']');
        tracing::debug!(list = kind.array(), kept = count, removed, "list filtered");
        RawValue::from_string(kept).map_err(|_| FilterError::NotJson)
    }
}

/// A JSON object with its members unparsed (ambiguity has been ruled out, so no member
/// repeats), written back in key order.
type RawObject<'a> = BTreeMap<Cow<'a, str>, &'a RawValue>;

/// An entry's `key` member if it is a string; `None` when the entry is no object or the
/// member is missing or not a string (such an entry is never kept).
fn entry_key<'a>(entry: &'a RawValue, key: &str) -> Option<Cow<'a, str>> {
    let mut de = serde_json::Deserializer::from_str(entry.get());
    let raw = Member(key).deserialize(&mut de).ok()??;
    serde_json::from_str::<&str>(raw.get())
        .map(Cow::Borrowed)
        .or_else(|_| serde_json::from_str::<String>(raw.get()).map(Cow::Owned))
        .ok()
}

/// Finds one member of an object without allocating for the others.
struct Member<'k>(&'k str);

/// Whether a key is the wanted one, compared without copying it.
struct IsKey<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for Member<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Member<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list entry object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(wanted) = map.next_key_seed(IsKey(self.0))? {
            if wanted {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

impl<'de> DeserializeSeed<'de> for IsKey<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for IsKey<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

struct SseState<B> {
    body: B,
    splitter: Splitter,
    filter: ResponseFilter,
    ready: VecDeque<Bytes>,
    ended: bool,
}

/// The SSE body, event by event: every event is checked, so a list on any event of any
/// stream is filtered. An event that cannot be checked ends the stream with an error.
fn sse_body<B>(body: B, filter: ResponseFilter) -> ProxyBody
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let splitter = Splitter::new(filter.limit);
    let state = SseState {
        body,
        splitter,
        filter,
        ready: VecDeque::new(),
        ended: false,
    };
    let frames = stream::unfold(state, |mut s| async move {
        let item = next_frame(&mut s).await?;
        Some((item, s))
    });
    StreamBody::new(frames).boxed_unsync()
}

async fn next_frame<B>(s: &mut SseState<B>) -> Option<Result<Frame<Bytes>, BoxError>>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    loop {
        if let Some(bytes) = s.ready.pop_front() {
            return Some(Ok(Frame::data(bytes)));
        }
        if s.ended {
            return None;
        }
        let pushed = match s.body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => s.push(&data),
                Err(trailers) => return Some(Ok(trailers)),
            },
            Some(Err(e)) => return Some(Err(e.into())),
            None => s.end(),
        };
        if let Err(e) = pushed {
            s.ended = true;
            tracing::info!(error = %e, "response stream withheld");
            return Some(Err(e));
        }
    }
}

// === impl SseState ===

impl<B> SseState<B> {
    fn push(&mut self, data: &[u8]) -> Result<(), BoxError> {
        for event in self.splitter.push(data)? {
            self.take_event(event)?;
        }
        Ok(())
    }

    /// The stream ended: its unterminated last event, if any, is checked too.
    fn end(&mut self) -> Result<(), BoxError> {
        self.ended = true;
        let rest = self.splitter.finish();
        Ok(self.take_event(rest)?)
    }

    fn take_event(&mut self, event: Bytes) -> Result<(), FilterError> {
        if event.is_empty() {
            return Ok(());
        }
        self.ready.push_back(self.filter.check_event(&event)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
