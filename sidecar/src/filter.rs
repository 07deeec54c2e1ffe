//! filter: `tools/list`, `prompts/list` and `resources/list` (and templates) results
//! keep only what the caller may use, decided by the same index that allowed the list
//! call. JSON responses are read whole (bounded); in an SSE response only the event
//! carrying the list response is rewritten, every other event passes as it arrives.
//! A list that cannot be filtered is never passed on unfiltered.

use std::collections::VecDeque;
use std::sync::Arc;

use agentnet_policy::{Index, Request};
use bytes::Bytes;
use futures::stream;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, StreamBody};
use serde_json::Value;

use crate::body::{self, BoxError, ProxyBody, ReadError};
use crate::codec::sse::Splitter;

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
        let mut value: Value = serde_json::from_slice(bytes).map_err(|_| FilterError::NotJson)?;
        match self.apply(&mut value)? {
            true => Ok(Bytes::from(value.to_string())),
            false => Ok(Bytes::copy_from_slice(bytes)),
        }
    }

    /// Filters `value` if it is the response to the list call; says whether it was.
    fn apply(&self, value: &mut Value) -> Result<bool, FilterError> {
        if value.get("id") != self.id.as_ref() {
            return Ok(false);
        }
        let Some(result) = value.get_mut("result") else {
            return Ok(false);
        };
        let filtered = self
            .index
            .filter_list(&self.request, result)
            .map_err(FilterError::Shape)?;
        tracing::debug!(
            kept = filtered.kept,
            removed = filtered.removed.len(),
            "list filtered"
        );
        Ok(true)
    }

    /// One SSE event: rewritten if it carries the list response. Returns whether it did.
    fn event(&self, event: Bytes) -> Result<(Bytes, bool), FilterError> {
        let Some(data) = crate::codec::sse::data(&event) else {
            return Ok((event, false));
        };
        let Ok(mut value) = serde_json::from_str::<Value>(&data) else {
            return Ok((event, false));
        };
        match self.apply(&mut value)? {
            true => Ok((
                crate::codec::sse::with_data(&event, &value.to_string()),
                true,
            )),
            false => Ok((event, false)),
        }
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
