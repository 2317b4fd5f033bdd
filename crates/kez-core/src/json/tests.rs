//! Strict parsing, safe numbers, JCS and our error sentences.

use super::*;

#[test]
fn rejects_duplicate_keys_at_any_depth() {
    assert!(parse_strict(br#"{"a":1,"a":2}"#).is_err());
    assert!(parse_strict(br#"{"x":[{"b":1,"b":1}]}"#).is_err());
    assert!(parse_strict(br#"{"a":1,"b":{"a":2}}"#).is_ok());
}

#[test]
fn rejects_invalid_utf8_and_trailing_data() {
    assert!(parse_strict(b"{\"a\":\"\xff\"}").is_err());
    assert!(parse_strict(br#"{"a":1} x"#).is_err());
    assert!(parse_strict(b"").is_err());
}

#[test]
fn errors_are_our_sentences_with_line_column_or_field() {
    let syntax = |b: &[u8]| match parse_strict(b) {
        Err(JsonError::Invalid(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        syntax(b"{\n  \"a\": }"),
        "the body is not valid JSON at line 2, column 8"
    );
    assert_eq!(
        syntax(br#"{"a":1} x"#),
        "the body is not valid JSON at line 1, column 9"
    );
    assert!(syntax(br#"{"a":"#).starts_with("the body ends before its JSON is complete"));
    assert!(syntax(br#"{"a":1,"a":2}"#).starts_with(r#"the key "a" appears twice"#));

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u64,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        #[serde(deserialize_with = "object")]
        inner: Inner,
    }
    let shape = |v: Value| from_object::<Doc>(&v).unwrap_err();
    let inner = serde_json::json!({"n": 1});
    for (v, sentence) in [
        (
            serde_json::json!({"inner": inner}),
            "the field `name` is missing",
        ),
        (
            serde_json::json!({"name": 1, "inner": inner}),
            "the field `name` has the wrong JSON type",
        ),
        (
            serde_json::json!({"name": "", "inner": inner, "x": 1}),
            "the field `x` is not allowed here",
        ),
        (
            serde_json::json!({"name": "", "inner": [1]}),
            "the field `inner` must be a JSON object, not an array",
        ),
        (
            serde_json::json!({"name": "", "inner": {"n": "1"}}),
            "the field `n` has the wrong JSON type (in `inner`)",
        ),
        (
            serde_json::json!([1]),
            "the body must be a JSON object, not an array",
        ),
    ] {
        assert_eq!(shape(v.clone()), sentence, "{v}");
    }
    let at = from_object_at::<Inner>(&serde_json::json!({}), "payload").unwrap_err();
    assert_eq!(at, "the field `payload.n` is missing");
}

#[test]
fn flags_unsafe_numbers() {
    let ok = parse_strict(br#"{"a":[9007199254740991,-9007199254740991,0]}"#).unwrap();
    assert_eq!(ensure_safe_numbers(&ok), Ok(()));
    for bad in [
        &br#"{"a":9007199254740992}"#[..],
        br#"{"a":-9007199254740992}"#,
        br#"{"a":1.5}"#,
        br#"{"a":1.0}"#,
        br#"{"a":[1e3]}"#,
        br#"{"a":18446744073709551616}"#,
    ] {
        let v = parse_strict(bad).unwrap();
        assert_eq!(
            ensure_safe_numbers(&v),
            Err(JsonError::UnsafeNumber),
            "{bad:?}"
        );
    }
}

#[test]
fn canonical_form_sorts_keys_by_utf16_units() {
    let v = parse_strict(
        "{\"\u{fb33}\":1,\"\u{1f600}\":2,\"b\":[true,null],\"a\":\"é\\n\"}".as_bytes(),
    )
    .unwrap();
    let out = String::from_utf8(canonical_bytes(&v)).unwrap();
    assert_eq!(
        out,
        "{\"a\":\"é\\n\",\"b\":[true,null],\"\u{1f600}\":2,\"\u{fb33}\":1}"
    );
}
