//! Server-Sent Events framing, read exactly as the WHATWG event-stream parser reads it
//! (lines end with `\r\n`, `\n` or a lone `\r`; a byte-order mark at the start of the
//! stream is dropped), so the sidecar sees every `data:` line a client will. Events are
//! split as their bytes arrive, each handed on whole and at once; nothing waits for the
//! stream's end.

use bytes::{Bytes, BytesMut};

/// Splits a byte stream into complete events (each with its terminating blank line).
#[derive(Debug)]
pub struct Splitter {
    buf: BytesMut,
    /// Where to resume scanning for a blank line.
    scanned: usize,
    limit: usize,
    /// Nothing has been seen yet: a leading byte-order mark is still to be dropped.
    at_start: bool,
}

/// UTF-8 byte-order mark, which an event stream may start with.
const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("an SSE event is larger than {limit} bytes")]
pub struct EventTooLarge {
    pub limit: usize,
}

// === impl Splitter ===

impl Splitter {
    /// `limit` bounds one event, the most this ever holds.
    pub fn new(limit: usize) -> Self {
        Splitter {
            buf: BytesMut::new(),
            scanned: 0,
            limit,
            at_start: true,
        }
    }

    /// Adds a chunk; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, EventTooLarge> {
        self.buf.extend_from_slice(chunk);
        if self.at_start {
            if self.buf.len() < BOM.len() && BOM.starts_with(&self.buf) {
                return Ok(Vec::new());
            }
            if self.buf.starts_with(BOM) {
                let _ = self.buf.split_to(BOM.len());
            }
            self.at_start = false;
        }
        let mut events = Vec::new();
        while let Some(end) = event_end(&self.buf, self.scanned) {
            events.push(self.buf.split_to(end).freeze());
            self.scanned = 0;
        }
        self.scanned = self.buf.len().saturating_sub(3);
        if self.buf.len() > self.limit {
            return Err(EventTooLarge { limit: self.limit });
        }
        Ok(events)
    }

    /// What is left when the stream ends (an unterminated last event).
    pub fn finish(&mut self) -> Bytes {
        self.scanned = 0;
        self.buf.split().freeze()
    }
}

/// The end (exclusive) of the first event in `buf`: a line break followed by an
/// empty line, with `\n`, `\r\n` or `\r` line breaks. A trailing `\r` may still be
/// the start of `\r\n`, so it ends nothing yet.
fn event_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from.min(buf.len());
    let mut line_start = i == 0 || matches!(buf[i - 1], b'\n' | b'\r');
    // Resuming inside a `\r\n` pair: its `\n` is no line of its own.
    if i > 0 && buf[i - 1] == b'\r' && buf.get(i) == Some(&b'\n') {
        i += 1;
    }
    while i < buf.len() {
        let len = match (buf[i], buf.get(i + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\r', None) => return None,
            (b'\r' | b'\n', _) => 1,
            _ => {
                line_start = false;
                i += 1;
                continue;
            }
        };
        if line_start && i > 0 {
            return Some(i + len);
        }
        line_start = true;
        i += len;
    }
    None
}

/// The event's lines, split at `\r\n`, `\n` or a lone `\r`; empty lines dropped.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split(['\r', '\n']).filter(|l| !l.is_empty())
}

/// The event's data: its `data:` lines joined with `\n`, or `None` if it has none (or
/// is not UTF-8, which no client reads as data either).
pub fn data(event: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(event).ok()?;
    let mut values = lines(text)
        .filter_map(|l| l.strip_prefix("data"))
        .filter_map(field_value);
    let first = values.next()?;
    Some(values.fold(first.to_owned(), |mut all, l| {
        all.push('\n');
        all.push_str(l);
        all
    }))
}

/// After the field name: nothing, or `:` and an optional space, then the value.
fn field_value(rest: &str) -> Option<&str> {
    if rest.is_empty() {
        return Some("");
    }
    let value = rest.strip_prefix(':')?;
    Some(value.strip_prefix(' ').unwrap_or(value))
}

/// The event with its data replaced by `data` (one line per line of `data`); other
/// fields (`event`, `id`, `retry`, comments) are kept in place, with `\n` line ends.
pub fn with_data(event: &[u8], data: &str) -> Bytes {
    let text = String::from_utf8_lossy(event);
    let mut out = String::with_capacity(event.len() + data.len());
    let mut written = false;
    for line in lines(&text) {
        if line.strip_prefix("data").and_then(field_value).is_none() {
            out.push_str(line);
            out.push('\n');
        } else if !written {
            data.split('\n').for_each(|d| {
                out.push_str("data: ");
                out.push_str(d);
                out.push('\n');
            });
            written = true;
        }
    }
    out.push('\n');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_events_across_chunks_and_line_endings() {
        let mut s = Splitter::new(1024);
        assert_eq!(
            s.push(b"event: message\ndata: {\"a\"").unwrap(),
            Vec::<Bytes>::new()
        );
        assert_eq!(
            s.push(b":1}\n\nid: 2\r").unwrap(),
            vec![Bytes::from_static(b"event: message\ndata: {\"a\":1}\n\n")]
        );
        assert_eq!(
            s.push(b"\ndata: x\r\n\r\ndata: y\r\rtail").unwrap(),
            vec![
                Bytes::from_static(b"id: 2\r\ndata: x\r\n\r\n"),
                Bytes::from_static(b"data: y\r\r")
            ]
        );
        assert_eq!(s.finish(), "tail");
    }

    #[test]
    fn a_crlf_split_by_a_chunk_is_one_line_break() {
        let mut s = Splitter::new(1024);
        assert!(s.push(b"data: x\r\nyz").unwrap().is_empty());
        assert!(s.push(b"\r\n").unwrap().is_empty());
        assert_eq!(
            s.push(b"\r\n").unwrap(),
            vec![Bytes::from_static(b"data: x\r\nyz\r\n\r\n")]
        );
    }

    #[test]
    fn bounds_one_event() {
        let mut s = Splitter::new(8);
        assert_eq!(
            s.push(b"data: 123456789").unwrap_err(),
            EventTooLarge { limit: 8 }
        );
    }

    #[test]
    fn lone_carriage_returns_end_lines_as_clients_read_them() {
        let event = b"event: message\rdata: {\"a\":\rdata: 1}\r\r";
        assert_eq!(data(event).as_deref(), Some("{\"a\":\n1}"));
        assert_eq!(with_data(event, "{}"), "event: message\ndata: {}\n\n");
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_dropped_even_split_across_chunks() {
        let mut s = Splitter::new(1024);
        assert!(s.push(b"\xEF\xBB").unwrap().is_empty());
        let events = s.push(b"\xBFdata: x\n\n").unwrap();
        assert_eq!(events, vec![Bytes::from_static(b"data: x\n\n")]);
        assert_eq!(data(&events[0]).as_deref(), Some("x"));
        // Only at the start of the stream.
        let events = s.push(b"\xEF\xBB\xBFdata: y\n\n").unwrap();
        assert_eq!(data(&events[0]), None);
    }

    #[test]
    fn reads_and_replaces_data() {
        let event = b"event: message\nid: 7\ndata: {\"a\":\ndata:1}\n: comment\n\n";
        assert_eq!(data(event).as_deref(), Some("{\"a\":\n1}"));
        assert_eq!(data(b": only a comment\n\n"), None);
        assert_eq!(data(b"data\n\n").as_deref(), Some(""));
        let out = with_data(event, "{\"b\":2}");
        assert_eq!(out, "event: message\nid: 7\ndata: {\"b\":2}\n: comment\n\n");
    }
}
