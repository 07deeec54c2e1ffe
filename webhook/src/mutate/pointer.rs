//! JSON pointers (RFC 6901) for the patch. Keys such as `agentnet.dev/injected` contain
//! `/`, which must become `~1` (and `~` must become `~0`, first); jsonptr's `Token`
//! does the escaping, so no path is ever assembled by string formatting.

use json_patch::jsonptr::{PointerBuf, Token};

/// A pointer built from unescaped tokens, e.g. `["metadata", "annotations", key]`.
pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> PointerBuf {
    PointerBuf::from_tokens(tokens.into_iter().map(Token::new))
}

/// `<path>/<index>` into an array.
pub fn index<'a>(tokens: impl IntoIterator<Item = &'a str>, i: usize) -> PointerBuf {
    let mut p = from_tokens(tokens);
    p.push_back(i);
    p
}

/// `<path>/-`: the end of an array, where `add` appends.
pub fn end<'a>(tokens: impl IntoIterator<Item = &'a str>) -> PointerBuf {
    let mut p = from_tokens(tokens);
    p.push_back("-");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_slash_and_tilde_in_keys() {
        let p = from_tokens(["metadata", "annotations", "agentnet.dev/injected"]);
        assert_eq!(p.as_str(), "/metadata/annotations/agentnet.dev~1injected");
        let p = from_tokens(["metadata", "labels", "a~b/c~/d"]);
        assert_eq!(p.as_str(), "/metadata/labels/a~0b~1c~0~1d");
    }

    #[test]
    fn tilde_is_escaped_before_slash_so_escapes_do_not_collide() {
        // `~1` written literally in a key must not read back as `/`.
        let p = from_tokens(["x", "~1"]);
        assert_eq!(p.as_str(), "/x/~01");
        let resolved: Vec<String> = p.tokens().map(|t| t.decoded().into_owned()).collect();
        assert_eq!(resolved, ["x", "~1"]);
    }

    #[test]
    fn builds_array_positions() {
        assert_eq!(
            index(["spec", "initContainers"], 0).as_str(),
            "/spec/initContainers/0"
        );
        assert_eq!(end(["spec", "volumes"]).as_str(), "/spec/volumes/-");
    }
}
