use super::*;

#[test]
fn plain_messages_pass() {
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"Name":"x","name":"y"}}}"#,
        r#"{"jsonrpc":"2.0","id":"a","result":{"tools":[{"name":"a"},{"name":"b"}]}}"#,
        r#"{"jsonrpc":"2.0","method":"message/send","params":{"message":{"metadata":{"skill":"s"}}}}"#,
        "[1, 2, {\"a\": 1}]",
    ] {
        assert_eq!(check(body.as_bytes()), Ok(()), "{body}");
    }
}

#[test]
fn duplicate_members_anywhere_are_ambiguous() {
    for (body, member) in [
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}"#,
            "method",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","name":"get-secret"}}"#,
            "name",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"arguments":{"a":1,"a":2}}}"#,
            "a",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"n\u0061me":"a","name":"b"}}"#,
            "name",
        ),
    ] {
        assert_eq!(
            check(body.as_bytes()),
            Err(Ambiguity::Duplicate(member.into())),
            "{body}"
        );
    }
}

#[test]
fn case_folded_spellings_of_policy_members_are_ambiguous() {
    for (body, found, canonical) in [
        (
            r#"{"jsonrpc":"2.0","id":1,"Method":"tools/call"}"#,
            "Method",
            "method",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","Name":"get-secret"}}"#,
            "Name",
            "name",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"NAME":"get-secret"}}"#,
            "NAME",
            "name",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"URI":"memo://private"}}"#,
            "URI",
            "uri",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"metadata":{"ſkill":"translate"}}}"#,
            "ſkill",
            "skill",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"message":{"metadata":{"SkillId":"t"}}}}"#,
            "SkillId",
            "skillId",
        ),
        (r#"{"jsonrpc":"2.0","iD":1,"method":"x"}"#, "iD", "id"),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"Arguments":{}}}"#,
            "Arguments",
            "arguments",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"x","Params":{}}"#,
            "Params",
            "params",
        ),
    ] {
        assert_eq!(
            check(body.as_bytes()),
            Err(Ambiguity::Spelling {
                found: found.into(),
                canonical
            }),
            "{body}"
        );
    }
    // The Kelvin sign folds to k: "\u{212A}" in "s\u{212A}ill".
    let kelvin =
        "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"metadata\":{\"s\u{212A}ill\":\"t\"}}}";
    assert!(matches!(
        check(kelvin.as_bytes()),
        Err(Ambiguity::Spelling {
            canonical: "skill",
            ..
        })
    ));
}
