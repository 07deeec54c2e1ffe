//! filter: `tools/list`, `prompts/list` and `resources/list` (and templates) results
//! keep only what the caller may use, decided by the same index that allowed the list
//! call. JSON responses are read whole (bounded); in an SSE response only the event
//! carrying the list response is rewritten, every other event passes as it arrives.
//! A list that cannot be filtered is never passed on unfiltered.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use agentnet_policy::{Index, Request};
use bytes::Bytes;
use futures::stream;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, StreamBody};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::request::body::{self, BoxError, ProxyBody, ReadError};
use crate::request::codec::sse::Splitter;

/// What filtering one list response needs.
#[derive(Debug)]
pub struct ListFilter {
    pub index: Arc<Index>,
    /// The list call as decided, so entries are decided for the same caller.
    pub request: Request,
    pub id: Option<Value>,
    /// Largest JSON body or SSE event filtered.
    pub limit: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("the list response is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the list response is not JSON")]
    NotJson,
    #[error("the list result has an unexpected shape: {0}")]
    Shape(agentnet_policy::FilterError),
    #[error("reading the list response failed: {0}")]
    Read(BoxError),
}

/// The upstream response to a list request, filtered. Errors and responses that are
/// neither JSON nor SSE pass unchanged (they carry no list).
pub async fn response<B>(
    resp: Response<B>,
    filter: ListFilter,
) -> Result<Response<ProxyBody>, FilterError>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let content_type = resp.headers().get(header::CONTENT_TYPE);
    let content_type = content_type
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let is_json = content_type.starts_with("application/json");
    let is_sse = content_type.starts_with("text/event-stream");
    if resp.status() != StatusCode::OK || !(is_json || is_sse) {
        return Ok(resp.map(body::stream));
    }
    let (mut parts, incoming) = resp.into_parts();
    if is_sse {
        return Ok(Response::from_parts(parts, sse(incoming, filter)));
    }
    let filtered = filter.json(&read_list(incoming, filter.limit).await?)?;
    parts.headers.remove(header::CONTENT_LENGTH);
    let no_store = HeaderValue::from_static("no-store");
    parts.headers.insert(header::CACHE_CONTROL, no_store);
    Ok(Response::from_parts(parts, body::full(filtered)))
}

async fn read_list<B>(incoming: B, limit: usize) -> Result<Bytes, FilterError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    body::collect(incoming, limit).await.map_err(|e| match e {
        ReadError::TooLarge { limit } => FilterError::TooLarge { limit },
        ReadError::Read(e) => FilterError::Read(e),
    })
}

// === impl ListFilter ===

impl ListFilter {
    pub fn new(index: Arc<Index>, request: Request, id: Option<Value>, limit: usize) -> Self {
        ListFilter {
            index,
            request,
            id,
            limit,
        }
    }

    fn json(&self, bytes: &[u8]) -> Result<Bytes, FilterError> {
        let text = std::str::from_utf8(bytes).map_err(|_| FilterError::NotJson)?;
        match self.rewrite(text)? {
            Rewrite::Filtered(filtered) => Ok(Bytes::from(filtered)),
            // A body that is not even JSON is never passed on as a list.
            Rewrite::NoObject if serde_json::from_str::<IgnoredAny>(text).is_err() => {
                Err(FilterError::NotJson)
            }
            Rewrite::NoObject | Rewrite::OtherMessage => Ok(Bytes::copy_from_slice(bytes)),
        }
    }

    /// The message with its list filtered, or why it is left alone.
    ///
    /// Only the envelope, the result object and each entry's name are parsed; entries
    /// stay raw JSON and the kept ones are copied out verbatim. Parsing a 100-tool list
    /// (schemas, descriptions) into `Value`s and printing it again cost more than all
    /// the rest of the request.
    fn rewrite(&self, text: &str) -> Result<Rewrite, FilterError> {
        let Ok(mut message) = serde_json::from_str::<RawObject<'_>>(text) else {
            return Ok(Rewrite::NoObject);
        };
        let id = message
            .get("id")
            .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok());
        if id.as_ref() != self.id.as_ref() {
            return Ok(Rewrite::OtherMessage);
        }
        let Some(result) = message.get("result") else {
            return Ok(Rewrite::OtherMessage);
        };
        let mut entries = self
            .index
            .list_entries(&self.request)
            .map_err(FilterError::Shape)?;
        let (array, key) = entries.fields();
        let shape = || FilterError::Shape(agentnet_policy::FilterError::Shape(array));
        let mut result =
            serde_json::from_str::<RawObject<'_>>(result.get()).map_err(|_| shape())?;
        let list = result
            .get(array)
            .and_then(|raw| serde_json::from_str::<Vec<&RawValue>>(raw.get()).ok())
            .ok_or_else(shape)?;
        let (mut kept, mut count, mut removed) = (String::with_capacity(list.len() * 16), 0, 0);
        kept.push('[');
        for entry in list {
            if entries.keeps(entry_key(entry, key).as_deref()) {
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
        let kept = RawValue::from_string(kept).map_err(|_| FilterError::NotJson)?;
        tracing::debug!(kept = count, removed, "list filtered");
        result.insert(Cow::Borrowed(array), &kept);
        let result = serde_json::value::to_raw_value(&result).map_err(|_| FilterError::NotJson)?;
        message.insert(Cow::Borrowed("result"), &result);
        serde_json::to_string(&message)
            .map(Rewrite::Filtered)
            .map_err(|_| FilterError::NotJson)
    }

    /// One SSE event: rewritten if it carries the list response. Returns whether it did.
    fn event(&self, event: Bytes) -> Result<(Bytes, bool), FilterError> {
        let Some(data) = crate::request::codec::sse::data(&event) else {
            return Ok((event, false));
        };
        match self.rewrite(&data)? {
            Rewrite::Filtered(filtered) => Ok((
                crate::request::codec::sse::with_data(&event, &filtered),
                true,
            )),
            Rewrite::NoObject | Rewrite::OtherMessage => Ok((event, false)),
        }
    }
}

/// What [`ListFilter::rewrite`] made of one JSON-RPC message.
enum Rewrite {
    /// The list response, with only the entries the caller may use.
    Filtered(String),
    /// Not a JSON object (perhaps not JSON at all): no JSON-RPC message.
    NoObject,
    /// A JSON object, but not the response to the list call.
    OtherMessage,
}

/// A JSON object with its members unparsed. Ordered and deduplicated as `Value`'s own
/// map is: the last of repeated members wins, and members are written in key order.
type RawObject<'a> = BTreeMap<Cow<'a, str>, &'a RawValue>;

/// An entry's `key` member if it is a string (the last one, if repeated); `None` when
/// the entry is no object or the member is missing or not a string.
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
    filter: ListFilter,
    ready: VecDeque<Bytes>,
    /// The list response went by: the rest streams through unparsed.
    done: bool,
    ended: bool,
}

/// The SSE body, event by event; an event over the limit ends the stream with an
/// error rather than pass an unfiltered list.
fn sse<B>(body: B, filter: ListFilter) -> ProxyBody
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
        done: false,
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
                Ok(data) => s.push(data),
                Err(trailers) => return Some(Ok(trailers)),
            },
            Some(Err(e)) => return Some(Err(e.into())),
            None => s.end(),
        };
        if let Err(e) = pushed {
            return Some(Err(e));
        }
    }
}

// === impl SseState ===

impl<B> SseState<B> {
    fn push(&mut self, data: Bytes) -> Result<(), BoxError> {
        if self.done {
            self.ready.push_back(data);
            return Ok(());
        }
        for event in self.splitter.push(&data)? {
            self.take_event(event)?;
        }
        if self.done {
            let rest = self.splitter.finish();
            self.ready.extend((!rest.is_empty()).then_some(rest));
        }
        Ok(())
    }

    /// The stream ended: its unterminated last event, if any, goes out too.
    fn end(&mut self) -> Result<(), BoxError> {
        self.ended = true;
        let rest = self.splitter.finish();
        Ok(self.take_event(rest)?)
    }

    fn take_event(&mut self, event: Bytes) -> Result<(), FilterError> {
        if event.is_empty() {
            return Ok(());
        }
        if self.done {
            self.ready.push_back(event);
            return Ok(());
        }
        let (event, was_list) = self.filter.event(event)?;
        self.done = was_list;
        self.ready.push_back(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
