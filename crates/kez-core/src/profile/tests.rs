use super::*;

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const SALT: &str = "00112233445566778899aabbccddeeff";

fn now() -> DateTime<Utc> {
    "2026-05-25T03:00:00Z".parse().unwrap()
}

fn sk() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

fn primary(k: &SigningKey) -> String {
    format!("ed25519:{}", hex::encode(k.verifying_key().as_bytes()))
}

fn wrap() -> Value {
    json!({"epk": "ab".repeat(32), "nonce": "cd".repeat(12), "ct": "A".repeat(64)})
}

fn payload() -> Value {
    json!({"type": PROFILE_TYPE, "version": 1, "handle": "alice", "server": "kez.lat",
           "primary": primary(&sk()), "display_name": "Alice",
           "picture": format!("{PNG_PREFIX}{PNG}#kez-visual-v1:{SALT}"),
           "visual_keys": [wrap()], "updated_at": "2026-05-25T03:01:00Z"})
}

fn with(field: &str, v: Value) -> Value {
    let mut p = payload();
    p[field] = v;
    sign_profile(&sk(), &p)
}

fn code(doc: &Value) -> &'static str {
    verify_profile(doc, "kez.lat", Some(now())).map_or_else(|e| e.code(), |_| "ok")
}

#[test]
fn a_good_profile_and_its_variants_pass() {
    assert_eq!(code(&sign_profile(&sk(), &payload())), "ok");
    let mut p = payload();
    p["picture"] = json!(null);
    p["display_name"] = json!(null);
    p["visual_keys"] = json!([]);
    assert_eq!(code(&sign_profile(&sk(), &p)), "ok");
    let mut p = payload();
    p["picture"] = json!(format!("{JPEG_PREFIX}/9j/4AAQ"));
    p["visual_keys"] = json!([]);
    assert_eq!(code(&sign_profile(&sk(), &p)), "ok");
    let old = with("updated_at", json!("2020-01-01T00:00:00Z"));
    assert!(
        verify_profile(&old, "kez.lat", None).is_ok(),
        "readers skip the window"
    );
}

#[test]
fn each_failure_has_its_own_code() {
    let other = SigningKey::from_bytes(&[2; 32]);
    let tampered = {
        let mut d = sign_profile(&sk(), &payload());
        d["payload"]["display_name"] = json!("Mallory");
        d
    };
    let cases: Vec<(&str, Value)> = vec![
        ("invalid_body", with("extra", json!(1))),
        ("invalid_body", {
            let mut p = payload();
            p.as_object_mut().unwrap().remove("picture");
            sign_profile(&sk(), &p)
        }),
        (
            "invalid_body",
            with("visual_keys", json!([{"epk": "x", "nonce": "y"}])),
        ),
        ("unsafe_number", with("version", json!(1.5))),
        ("wrong_envelope_tag", {
            let mut d = sign_profile(&sk(), &payload());
            d["kez"] = json!("handle_registration");
            d
        }),
        (
            "wrong_payload_type",
            with("type", json!("kez.chat.handle_registration")),
        ),
        ("unsupported_version", with("version", json!(2))),
        ("key_mismatch", with("primary", json!(primary(&other)))),
        ("unsupported_alg", {
            let mut d = sign_profile(&sk(), &payload());
            d["signature"]["alg"] = json!("ed25519");
            d
        }),
        ("invalid_signature", tampered),
        ("wrong_server", with("server", json!("evil.example"))),
        ("invalid_handle", with("handle", json!("Alice"))),
        (
            "invalid_timestamp",
            with("updated_at", json!("2026-05-25T03:01:00+00:00")),
        ),
        (
            "stale_timestamp",
            with("updated_at", json!("2026-05-25T02:54:59Z")),
        ),
        (
            "invalid_display_name",
            with("display_name", json!(" Alice")),
        ),
        (
            "invalid_display_name",
            with("display_name", json!("A\u{7}")),
        ),
        (
            "invalid_display_name",
            with("display_name", json!("x".repeat(65))),
        ),
        ("invalid_display_name", with("display_name", json!(""))),
        (
            "invalid_picture",
            with("picture", json!("data:image/svg+xml;base64,PHN2Zz4=")),
        ),
        (
            "invalid_picture",
            with("picture", json!(format!("{JPEG_PREFIX}{PNG}"))),
        ),
        (
            "invalid_picture",
            with(
                "picture",
                json!(format!("{PNG_PREFIX}{PNG}#kez-visual-v1:00")),
            ),
        ),
        (
            "invalid_picture",
            with(
                "picture",
                json!(format!("{JPEG_PREFIX}/9j/4AAQ#kez-visual-v1:{SALT}")),
            ),
        ),
        (
            "invalid_picture",
            with(
                "picture",
                json!(format!("{PNG_PREFIX}{}", "A".repeat(MAX_PICTURE_B64 + 4))),
            ),
        ),
        (
            "invalid_picture",
            with(
                "picture",
                json!(format!("{PNG_PREFIX}{}", PNG.trim_end_matches('='))),
            ),
        ),
        ("invalid_visual_keys", with("visual_keys", json!([]))),
        (
            "invalid_visual_keys",
            with(
                "visual_keys",
                json!([{"epk": "AB".repeat(32), "nonce": "cd".repeat(12), "ct": "A".repeat(64)}]),
            ),
        ),
        (
            "invalid_visual_keys",
            with(
                "visual_keys",
                json!([{"epk": "ab".repeat(32), "nonce": "cd".repeat(12), "ct": "A".repeat(63)}]),
            ),
        ),
        (
            "invalid_visual_keys",
            with("visual_keys", Value::Array(vec![wrap(); MAX_WRAPS + 1])),
        ),
        ("invalid_visual_keys", {
            let mut p = payload();
            p["picture"] = json!(null);
            sign_profile(&sk(), &p)
        }),
    ];
    for (want, doc) in cases {
        assert_eq!(code(&doc), want, "{}", doc["payload"]);
    }
}

#[test]
fn display_names() {
    for good in [
        "Alice",
        "Ünïcødé ✓",
        "a b",
        &"é".repeat(64),
        "👩\u{200d}💻 Ana",
    ] {
        assert!(valid_display_name(good), "{good}");
    }
    for bad in [
        "",
        " a",
        "a ",
        "a\n",
        "\u{feff}a",
        "a\u{85}b",
        &"é".repeat(65),
        "Ali\u{202e}ecila",
        "a\u{2066}b\u{2069}",
        "a\u{200b}b",
        "a\u{200f}b",
        "a\u{61c}b",
    ] {
        assert!(!valid_display_name(bad), "{bad:?}");
    }
}
