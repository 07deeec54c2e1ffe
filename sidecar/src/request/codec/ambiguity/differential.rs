//! The differential property: every message the sidecar accepts is read the same way by
//! serde_json (the sidecar's own reading: the last of repeated members), a decoder that
//! keeps the first of repeated members, and a case-insensitive decoder that matches
//! members as Go's `encoding/json` matches struct fields (an exact match first, else a
//! case-folded one; of several, the last). Whatever they could disagree on (method,
//! tool or prompt name, resource URI, skill, id), the sidecar must have rejected.

use proptest::prelude::*;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::request::codec;

/// An object's members in order, repeats included.
#[derive(Debug)]
struct Members(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    members.push((k, map.next_value::<Value>()?));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Clone, Copy, Debug)]
enum Reader {
    Last,
    First,
    Folded,
}

fn fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{017F}' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The member `key` of a JSON object text, as `reader` reads it.
fn member(text: &str, key: &str, reader: Reader) -> Option<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let Members(members) = serde::Deserialize::deserialize(&mut de).ok()?;
    let mut exact = members.iter().filter(|(k, _)| k == key);
    let value = match reader {
        Reader::Last => exact.next_back(),
        Reader::First => exact.next(),
        Reader::Folded => exact
            .next_back()
            .or_else(|| members.iter().rfind(|(k, _)| fold(k) == fold(key))),
    };
    value.map(|(_, v)| v.clone())
}

/// What policy would act on, as `reader` reads the message.
fn reading(text: &str, reader: Reader) -> [Option<Value>; 6] {
    let params = member(text, "params", reader).map(|p| p.to_string());
    let params = params.as_deref();
    let of = |text: Option<&str>, key: &str| text.and_then(|t| member(t, key, reader));
    let message = of(params, "message").map(|m| m.to_string());
    let metadata = of(params, "metadata")
        .or_else(|| of(message.as_deref(), "metadata"))
        .map(|m| m.to_string());
    [
        member(text, "method", reader),
        member(text, "id", reader),
        of(params, "name"),
        of(params, "uri"),
        of(metadata.as_deref(), "skill"),
        of(metadata.as_deref(), "skillId"),
    ]
}

fn key(canonical: &'static str) -> impl Strategy<Value = String> {
    let upper = canonical.to_ascii_uppercase();
    let mut capital = canonical.to_owned();
    capital[..1].make_ascii_uppercase();
    let long_s = canonical.replacen('s', "\u{017F}", 1);
    let kelvin = canonical.replacen('k', "\u{212A}", 1);
    prop::sample::select(vec![
        canonical.to_owned(),
        canonical.to_owned(),
        upper,
        capital,
        long_s,
        kelvin,
    ])
}

fn value() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        r#""tools/call""#,
        r#""add""#,
        r#""get-secret""#,
        r#""memo://private""#,
        r#""summarize""#,
        r#""translate""#,
        "1",
        "1.0",
        r#""1""#,
        "null",
    ])
    .prop_map(str::to_owned)
}

/// An object of 0..=3 members drawn from `keys`, possibly repeated or case-varied.
fn object(
    keys: &'static [&'static str],
    inner: Option<BoxedStrategy<String>>,
) -> BoxedStrategy<String> {
    let member = (
        prop::sample::select(keys.to_vec()).prop_flat_map(key),
        value(),
    );
    let members = prop::collection::vec(member, 0..=3);
    let nested = inner.unwrap_or_else(|| Just(String::new()).boxed());
    (members, nested)
        .prop_map(|(members, nested)| {
            let mut parts: Vec<String> = members
                .into_iter()
                .map(|(k, v)| format!("{}:{v}", json_str(&k)))
                .collect();
            if !nested.is_empty() {
                parts.push(nested);
            }
            format!("{{{}}}", parts.join(","))
        })
        .boxed()
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn message() -> impl Strategy<Value = String> {
    let metadata = object(&["skill", "skillId"], None);
    let metadata_member = (prop::sample::select(vec!["metadata", "Metadata"]), metadata)
        .prop_map(|(k, m)| format!("{}:{m}", json_str(k)))
        .boxed();
    let params = object(&["name", "uri", "arguments"], Some(metadata_member));
    let params_member = (
        prop::sample::select(vec!["params", "Params", "params"]),
        params,
    )
        .prop_map(|(k, p)| format!("{}:{p}", json_str(k)))
        .boxed();
    object(&["jsonrpc", "id", "method"], Some(params_member))
        .prop_map(|m| m.replacen('{', r#"{"jsonrpc":"2.0","#, 1))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn whatever_the_sidecar_accepts_every_decoder_reads_alike(text in message()) {
        if serde_json::from_str::<Value>(&text).is_err() {
            return Ok(());
        }
        let req = http::Request::post("/mcp").body(()).unwrap();
        let (parts, ()) = req.into_parts();
        let body = bytes::Bytes::from(text.clone());
        let accepted_mcp = codec::classify(agentnet_policy::Protocol::Mcp, &parts, &body).is_ok();
        let accepted_a2a = codec::classify(agentnet_policy::Protocol::A2a, &parts, &body).is_ok();
        if accepted_mcp || accepted_a2a {
            let ours = reading(&text, Reader::Last);
            prop_assert_eq!(&ours, &reading(&text, Reader::First), "first-wins disagrees on {}", text);
            prop_assert_eq!(&ours, &reading(&text, Reader::Folded), "case-insensitive disagrees on {}", text);
        }
    }
}
