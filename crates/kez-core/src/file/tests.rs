use super::*;

const ID: &str = "AAECAwQFBgcICQoLDA0ODw";

fn big(n: usize) -> Vec<u8> {
    (0..n).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

#[test]
fn built_bodies_parse_back() {
    let body = inline_body("cat.jpg", "image/jpeg", b"meow");
    assert!(matches!(
        parse_body("file", &body),
        Some(Attachment::Inline { .. })
    ));
    let data = big(CHUNK_SIZE * 2 + 5);
    let body = pointer_body(ID, "a.bin", "application/octet-stream", &data);
    assert!(matches!(
        parse_body("file", &body),
        Some(Attachment::Pointer { chunks: 3, .. })
    ));
    let chunks = chunk_bodies(ID, &data);
    assert_eq!(chunks.len(), 3);
    let mut joined = Vec::new();
    for c in &chunks {
        let Some(Attachment::Chunk { data, .. }) = parse_body("chunk", c) else {
            panic!("{c:.80}")
        };
        joined.extend(data);
    }
    assert_eq!(joined, data);
    assert!(parse_body("need", &need_body(ID, &[0, 2])).is_some());
}

#[test]
fn each_rule_refuses() {
    let ok_inline = inline_body("cat.jpg", "image/jpeg", b"meow");
    let cases: Vec<(&str, String)> = vec![
        ("text", ok_inline.clone()),
        ("chunk", ok_inline.clone()),
        ("file", ok_inline.replace("cat.jpg", "../x")),
        ("file", ok_inline.replace("cat.jpg", "..")),
        ("file", ok_inline.replace("cat.jpg", "a\\u0085b")),
        ("file", ok_inline.replace("image/jpeg", "image/JPEG")),
        (
            "file",
            ok_inline.replace("image/jpeg", "image/svg+xml; q=1"),
        ),
        ("file", ok_inline.replace("\"size\":4", "\"size\":5")),
        ("file", ok_inline.replace("\"size\":4", "\"size\":4.0")),
        ("file", ok_inline.replace("bWVvdw", "bWVvdx")),
        ("file", ok_inline.replace("{", "{\"x\":1,")),
        ("file", ok_inline.replace(",", ", ")),
        ("need", need_body(ID, &[2, 1])),
        ("need", need_body(ID, &[1, 1])),
        ("need", need_body(ID, &[128])),
        ("need", need_body(ID, &[])),
        ("need", need_body("AAECAwQFBgcICQoLDA0ODx", &[1])),
    ];
    for (kind, body) in cases {
        assert!(parse_body(kind, &body).is_none(), "{kind} {body}");
    }
}

#[test]
fn pointer_and_chunk_bounds() {
    let small = pointer_body(ID, "a", "a/b", &big(MAX_INLINE));
    assert!(parse_body("file", &small).is_none(), "inline-sized pointer");
    let first = chunk_bodies(ID, &big(CHUNK_SIZE * 2)).remove(0);
    assert!(parse_body("chunk", &first).is_some());
    let short = chunk_bodies(ID, &big(CHUNK_SIZE - 1)).remove(0);
    let short = short.replace("\"count\":1", "\"count\":2");
    assert!(
        parse_body("chunk", &short).is_none(),
        "short non-last chunk"
    );
    let one = chunk_bodies(ID, &big(10)).remove(0);
    assert!(parse_body("chunk", &one).is_none(), "count 1");
}

#[test]
fn names_and_types() {
    for good in ["a", "résumé.pdf", "x y.tar.gz", &"n".repeat(255)] {
        assert!(valid_name(good), "{good}");
    }
    for bad in [
        "",
        ".",
        "..",
        "a/b",
        "a\\b",
        "a\u{0}",
        "a\u{7f}",
        "a\u{9f}",
        "invoice\u{202e}fdp.exe",
        "a\u{2067}b",
        "a\u{200b}.txt",
        "a\u{feff}",
        &"n".repeat(256),
    ] {
        assert!(!valid_name(bad), "{bad:?}");
    }
    for good in ["image/png", "application/vnd.ms-excel", "text/x-c++", "a/b"] {
        assert!(valid_mime(good), "{good}");
    }
    for bad in [
        "image",
        "image/",
        "/png",
        "Image/png",
        "image/png;x=1",
        "image/-x",
        "a/b/c",
    ] {
        assert!(!valid_mime(bad), "{bad}");
    }
    assert!(renders_inline("image/webp") && !renders_inline("image/svg+xml"));
}
