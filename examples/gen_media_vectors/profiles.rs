//! The `profiles` part of `tests/vectors/media.json`: documents signed with
//! a fixed seed, each with the SPEC §14.5 code a server gives it at `now`.

use ed25519_dalek::SigningKey;
use kez_chat_server::kez::profile::{
    JPEG_PREFIX, MAX_PICTURE_B64, PNG_PREFIX, PROFILE_TYPE, sign_profile, verify_profile,
};
use kez_chat_server::kez::{Identity, visual};
use serde_json::{Value, json};

const NOW: &str = "2026-05-25T03:00:00Z";
const SERVER: &str = "kez.lat";
const SALT: &str = "000102030405060708090a0b0c0d0e0f";

fn key_of(seed: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(seed)
}

fn primary(sk: &SigningKey) -> String {
    format!("ed25519:{}", hex::encode(sk.verifying_key().as_bytes()))
}

/// Two wraps of the visual key `[0x4b; 32]`: to the owner and to a contact.
fn wraps(owner: &SigningKey, contact: &SigningKey) -> Value {
    let key = [0x4b; 32];
    let to = |sk: &SigningKey| Identity::parse(&primary(sk)).expect("valid key");
    let a = visual::wrap_key_with(&key, &to(contact), [0x71; 32], [0x72; 12]).expect("wrap");
    let b = visual::wrap_key_with(&key, &to(owner), [0x73; 32], [0x74; 12]).expect("wrap");
    json!([a, b])
}

/// Every profile case: the good document and one per refusal code.
pub(crate) fn profiles(png: &str) -> Value {
    let seed = [0x0a; 32];
    let sk = key_of(&seed);
    let other = key_of(&[0x0b; 32]);
    let contact = key_of(&[0x22; 32]);
    let base = json!({"type": PROFILE_TYPE, "version": 1, "handle": "alice", "server": SERVER,
        "primary": primary(&sk), "display_name": "Alice ✓",
        "picture": format!("{PNG_PREFIX}{png}#kez-visual-v1:{SALT}"),
        "visual_keys": wraps(&sk, &contact), "updated_at": "2026-05-25T03:01:00Z"});
    let with = |field: &str, v: Value| {
        let mut p = base.clone();
        p[field] = v;
        sign_profile(&sk, &p)
    };
    let plain = {
        let mut p = base.clone();
        p["display_name"] = json!(null);
        p["picture"] = json!(format!("{JPEG_PREFIX}/9j/4AAQSkZJRg=="));
        p["visual_keys"] = json!([]);
        sign_profile(&sk, &p)
    };
    let empty = {
        let mut p = base.clone();
        p["display_name"] = json!(null);
        p["picture"] = json!(null);
        p["visual_keys"] = json!([]);
        sign_profile(&sk, &p)
    };
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut d = sign_profile(&sk, &base);
        f(&mut d);
        d
    };
    let wrap_with = |field: &str, v: &str| {
        let mut w = wraps(&sk, &contact);
        w[0][field] = json!(v);
        with("visual_keys", w)
    };
    let cases: Vec<(&str, Value)> = vec![
        ("scrambled PNG, two wraps", sign_profile(&sk, &base)),
        ("plain JPEG, no name", plain),
        ("no picture", empty),
        ("unknown payload field", with("bio", json!("hi"))),
        (
            "display_name missing",
            edit(&|d| {
                d["payload"]
                    .as_object_mut()
                    .expect("object")
                    .remove("display_name");
            }),
        ),
        ("float version", with("version", json!(1.0))),
        (
            "unsafe integer",
            with("version", json!(9_007_199_254_740_993u64)),
        ),
        (
            "wrong tag",
            edit(&|d| d["kez"] = json!("handle_registration")),
        ),
        (
            "wrong type",
            with("type", json!("kez.chat.handle_registration")),
        ),
        ("version 2", with("version", json!(2))),
        (
            "key is another primary",
            with("primary", json!(primary(&other))),
        ),
        (
            "alg ed25519",
            edit(&|d| d["signature"]["alg"] = json!("ed25519")),
        ),
        ("weak key", {
            let weak = format!("ed25519:{}", "00".repeat(32));
            let mut d = with("primary", json!(weak));
            d["signature"]["key"] = json!(weak);
            d
        }),
        (
            "tampered after signing",
            edit(&|d| d["payload"]["display_name"] = json!("Mallory")),
        ),
        (
            "signed by another key",
            edit(&|d| {
                d["signature"]["sig"] = sign_profile(&other, &base)["signature"]["sig"].clone();
            }),
        ),
        ("other server", with("server", json!("evil.example"))),
        ("upper-case handle", with("handle", json!("Alice"))),
        (
            "offset timestamp",
            with("updated_at", json!("2026-05-25T03:01:00+00:00")),
        ),
        ("Feb 30", with("updated_at", json!("2026-02-30T03:01:00Z"))),
        (
            "6 minutes old",
            with("updated_at", json!("2026-05-25T02:54:00Z")),
        ),
        (
            "name with leading space",
            with("display_name", json!(" Alice")),
        ),
        ("name with newline", with("display_name", json!("Al\nice"))),
        (
            "name of 65 chars",
            with("display_name", json!("é".repeat(65))),
        ),
        ("empty name", with("display_name", json!(""))),
        (
            "name with right-to-left override",
            with("display_name", json!("Ali\u{202e}ecila")),
        ),
        (
            "name with zero-width space",
            with("display_name", json!("Ali\u{200b}ce")),
        ),
        (
            "SVG picture",
            with("picture", json!("data:image/svg+xml;base64,PHN2Zz4=")),
        ),
        (
            "JPEG label on PNG bytes",
            with("picture", json!(format!("{JPEG_PREFIX}{png}"))),
        ),
        (
            "JPEG with fragment",
            with(
                "picture",
                json!(format!(
                    "{JPEG_PREFIX}/9j/4AAQSkZJRg==#kez-visual-v1:{SALT}"
                )),
            ),
        ),
        (
            "short salt",
            with(
                "picture",
                json!(format!("{PNG_PREFIX}{png}#kez-visual-v1:0011")),
            ),
        ),
        (
            "b64url instead of base64",
            with(
                "picture",
                json!(format!("{PNG_PREFIX}{}", png.replace('+', "-"))),
            ),
        ),
        (
            "unpadded base64",
            with(
                "picture",
                json!(format!("{PNG_PREFIX}{}", png.trim_end_matches('='))),
            ),
        ),
        (
            "base64 over 200 KiB",
            with(
                "picture",
                json!(format!(
                    "{PNG_PREFIX}iVBORw0KGgo{}",
                    "A".repeat(MAX_PICTURE_B64 - 7)
                )),
            ),
        ),
        ("fragment without wraps", with("visual_keys", json!([]))),
        (
            "wraps without fragment",
            with("picture", json!(format!("{PNG_PREFIX}{png}"))),
        ),
        ("wrap epk upper case", wrap_with("epk", &"AB".repeat(32))),
        ("wrap nonce short", wrap_with("nonce", "00")),
        ("wrap ct of 47 bytes", wrap_with("ct", &"A".repeat(63))),
    ];
    let now = NOW.parse().expect("time");
    let cases: Vec<Value> = cases
        .into_iter()
        .map(|(name, doc)| {
            let code = verify_profile(&doc, SERVER, Some(now)).map_or_else(|e| e.code(), |_| "ok");
            // JSON.parse reads `1.0` as 1 and rounds 2^53+1: only a strict
            // parser of the raw text (the server's) sees these two.
            let raw_only = matches!(name, "float version" | "unsafe integer");
            json!({"name": name, "document": doc, "code": code, "raw_text_only": raw_only})
        })
        .collect();
    json!({"now": NOW, "server": SERVER, "seed": hex::encode(seed), "primary": primary(&sk),
           "contact_seed": hex::encode([0x22u8; 32]), "visual_key": hex::encode([0x4bu8; 32]),
           "note": "code: what PUT /v1/profile answers at `now` (SPEC §14.5 steps 0-10; \
                    steps 11-13 need the server's state). Readers pass no clock, so only \
                    `stale_timestamp` differs for them.",
           "cases": cases})
}
