//! One reading of every JSON-RPC message: a message that another common decoder would
//! read differently from `serde_json` is rejected, never forwarded. Two ways that
//! happens:
//!
//! - a member appears twice in one object (serde_json keeps the last; many decoders
//!   keep the first);
//! - at the levels policy reads (the envelope; `params`; `params.message`;
//!   `params.metadata` and `params.message.metadata`), a member's name matches one
//!   policy reads only when compared case-insensitively, as Go's `encoding/json` and
//!   others match struct fields (ASCII case, plus `ſ` for `s` and `K` (Kelvin) for `k`),
//!   e.g. `"Method"` or `"nAme"` next to, or instead of, `"name"`.
//!
//! Rejecting, rather than forwarding a canonical re-serialization, keeps the bytes a
//! server receives exactly the client's (signatures, numbers and key order intact) and
//! costs one extra pass over the body; legitimate clients never send either form.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Members whose spelling decides something, by the level they appear at.
const ENVELOPE: &[&str] = &["jsonrpc", "id", "method", "params", "result", "error"];
const PARAMS: &[&str] = &["name", "uri", "arguments", "message", "metadata", "_meta"];
const MESSAGE: &[&str] = &["metadata"];
const METADATA: &[&str] = &["skill", "skillId"];

/// Where an object sits, for which names matter there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Envelope,
    Params,
    Message,
    Metadata,
    Other,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ambiguity {
    #[error("the member {0:?} appears twice in one object")]
    Duplicate(String),
    #[error(
        "the member {found:?} reads as {canonical:?} to a case-insensitive decoder; spell it {canonical:?}"
    )]
    Spelling {
        found: String,
        canonical: &'static str,
    },
    #[error("{0}")]
    Json(String),
}

/// `Ok` when every decoder reads `body` the same way (it must already be valid JSON).
pub fn check(body: &[u8]) -> Result<(), Ambiguity> {
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let walked = Walk {
        level: Level::Envelope,
        found: &found,
    }
    .deserialize(&mut de);
    match (walked, found.into_inner()) {
        (_, Some(ambiguity)) => Err(ambiguity),
        (Err(e), None) => Err(Ambiguity::Json(e.to_string())),
        (Ok(()), None) => Ok(()),
    }
}

/// Go's case folding of a member name, as far as it can reach ASCII names: ASCII case,
/// `ſ` (U+017F) as `s`, `K` (U+212A) as `k`.
fn fold(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '\u{017F}' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn names(level: Level) -> &'static [&'static str] {
    match level {
        Level::Envelope => ENVELOPE,
        Level::Params => PARAMS,
        Level::Message => MESSAGE,
        Level::Metadata => METADATA,
        Level::Other => &[],
    }
}

/// The level of the value under `key` in an object at `level`.
fn child(level: Level, key: &str) -> Level {
    match (level, key) {
        (Level::Envelope, "params") => Level::Params,
        (Level::Params, "message") => Level::Message,
        (Level::Params | Level::Message, "metadata") => Level::Metadata,
        _ => Level::Other,
    }
}

/// Walks one value at `level`; the first ambiguity it meets goes to `found` (and stops
/// the walk with a generic error).
struct Walk<'f> {
    level: Level,
    found: &'f RefCell<Option<Ambiguity>>,
}

impl Walk<'_> {
    fn stop<E: de::Error>(&self, ambiguity: Ambiguity) -> E {
        *self.found.borrow_mut() = Some(ambiguity);
        E::custom("ambiguous")
    }

    fn at(&self, level: Level) -> Self {
        Walk {
            level,
            found: self.found,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        let sensitive = names(self.level);
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(self.stop(Ambiguity::Duplicate(key)));
            }
            let folded = fold(&key);
            if let Some(canonical) = sensitive.iter().find(|n| fold(n) == folded)
                && key != *canonical
            {
                let canonical = *canonical;
                return Err(self.stop(Ambiguity::Spelling {
                    found: key,
                    canonical,
                }));
            }
            map.next_value_seed(self.at(child(self.level, &key)))?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self.at(Level::Other))?.is_some() {}
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod differential;
#[cfg(test)]
mod tests;
