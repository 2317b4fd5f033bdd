//! Registrations refused (SPEC §5): another server, reserved or invalid
//! handles, signatures, keys, timestamps, envelope fields and malformed
//! bodies, each with its own code.

use serde_json::json;

use super::{assert_refused, assert_text_refused};
use crate::helpers::*;

#[tokio::test]
async fn registration_for_another_server_is_refused() {
    let app = spawn_app().await;
    assert_refused(
        &app,
        &TestIdentity::generate().registration("alice", "other.example"),
        422,
        "wrong_server",
    )
    .await;
}

#[tokio::test]
async fn reserved_names_are_refused() {
    let app = spawn_app().await;
    for name in ["admin", "root", "support", "postmaster", "www", "settings"] {
        assert_refused(
            &app,
            &TestIdentity::generate().registration(name, SERVER),
            422,
            "reserved_handle",
        )
        .await;
    }
}

#[tokio::test]
async fn invalid_handles_are_refused() {
    let app = spawn_app().await;
    let long = "a".repeat(33);
    for name in [
        "ab",
        long.as_str(),
        "Alice",
        "-lead",
        "_lead",
        "has space",
        "dot.ted",
        "zoë",
        "",
        "a@b",
    ] {
        assert_refused(
            &app,
            &TestIdentity::generate().registration(name, SERVER),
            422,
            "invalid_handle",
        )
        .await;
    }
    // Boundaries that are fine.
    app.register(&TestIdentity::generate(), "abc").await;
    app.register(&TestIdentity::generate(), &"z".repeat(32))
        .await;
}

#[tokio::test]
async fn tampered_payload_fails_signature_check() {
    let app = spawn_app().await;
    let id = TestIdentity::generate();
    let mut env = id.registration("alice", SERVER);
    env["payload"]["handle"] = json!("mallory");
    assert_refused(&app, &env, 401, "invalid_signature").await;
}

#[tokio::test]
async fn tampered_or_malformed_signature_fails() {
    let app = spawn_app().await;
    let id = TestIdentity::generate();
    let env = id.registration("alice", SERVER);
    let sig = env["signature"]["sig"].as_str().unwrap().to_owned();
    let flipped = format!("{}{}", if &sig[..1] == "0" { "1" } else { "0" }, &sig[1..]);
    for bad in [
        flipped,
        sig[..126].to_owned(),
        sig.to_uppercase(),
        "zz".repeat(64),
    ] {
        let mut e = env.clone();
        e["signature"]["sig"] = json!(bad);
        assert_refused(&app, &e, 401, "invalid_signature").await;
    }
}

#[tokio::test]
async fn non_canonical_signature_is_refused() {
    // S + L verifies under a lax verifier but not under RFC 8032 strict rules.
    let app = spawn_app().await;
    let id = TestIdentity::generate();
    let mut env = id.registration("alice", SERVER);
    let mut sig = hex::decode(env["signature"]["sig"].as_str().unwrap()).unwrap();
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let [low, high] = (u16::from(sig[32 + i]) + u16::from(L[i]) + carry).to_le_bytes();
        sig[32 + i] = low;
        carry = u16::from(high);
    }
    env["signature"]["sig"] = json!(hex::encode(sig));
    assert_refused(&app, &env, 401, "invalid_signature").await;
}

#[tokio::test]
async fn key_must_equal_primary() {
    let app = spawn_app().await;
    let id = TestIdentity::generate();
    let mut env = id.registration("alice", SERVER);
    env["signature"]["key"] = json!(TestIdentity::generate().primary());
    assert_refused(&app, &env, 422, "key_mismatch").await;
}

#[tokio::test]
async fn malformed_primary_is_refused() {
    let app = spawn_app().await;
    let id = TestIdentity::generate();
    let mut weak = [0u8; 32];
    weak[0] = 1; // the identity point: small order
    for bad in [
        format!("ed25519:{}", hex::encode(weak)),
        "ed25519:abc".to_owned(),
        id.primary().to_uppercase(),
    ] {
        let mut p = id.registration_payload("alice", SERVER);
        p["primary"] = json!(bad);
        let mut env = id.sign_envelope(p);
        env["signature"]["key"] = json!(bad);
        assert_refused(&app, &env, 422, "invalid_key").await;
    }
}

#[tokio::test]
async fn stale_and_future_timestamps_are_refused() {
    let app = spawn_app().await;
    let id = TestIdentity::generate();
    for offset in [-310i64, 310, -86_400, 86_400] {
        let mut p = id.registration_payload("alice", SERVER);
        let at = chrono::Utc::now() + chrono::Duration::seconds(offset);
        p["created_at"] = json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        assert_refused(&app, &id.sign_envelope(p), 422, "stale_timestamp").await;
    }
    let mut p = id.registration_payload("alice", SERVER);
    p["created_at"] = json!("last tuesday");
    assert_refused(&app, &id.sign_envelope(p), 422, "invalid_timestamp").await;
}

#[tokio::test]
async fn wrong_tag_type_version_and_alg_each_have_a_code() {
    let app = spawn_app().await;
    let id = TestIdentity::generate();

    let mut env = id.registration("alice", SERVER);
    env["kez"] = json!("registration");
    assert_refused(&app, &env, 422, "wrong_envelope_tag").await;

    let mut p = id.registration_payload("alice", SERVER);
    p["type"] = json!("kez.chat.other");
    assert_refused(&app, &id.sign_envelope(p), 422, "wrong_payload_type").await;

    let mut p = id.registration_payload("alice", SERVER);
    p["version"] = json!(2);
    assert_refused(&app, &id.sign_envelope(p), 422, "unsupported_version").await;

    let mut env = id.registration("alice", SERVER);
    env["signature"]["alg"] = json!("ed25519ph");
    assert_refused(&app, &env, 422, "unsupported_alg").await;
}

#[tokio::test]
async fn malformed_bodies_get_json_errors() {
    let app = spawn_app().await;
    let id = TestIdentity::generate();
    let good = serde_json::to_vec(&id.registration("alice", SERVER)).unwrap();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "application/json",
            b"{not json".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "application/json",
            b"{\"kez\":\"\xff\"}".to_vec(),
            400,
            "invalid_json",
        ),
        ("application/json", b"".to_vec(), 400, "invalid_json"),
        ("text/plain", good.clone(), 415, "unsupported_media_type"),
        ("application/json", b"[1,2,3]".to_vec(), 422, "invalid_body"),
        (
            "application/json",
            b"{\"kez\":\"handle_registration\"}".to_vec(),
            422,
            "invalid_body",
        ),
        (
            "application/json",
            vec![b' '; 16 * 1024 + 1],
            413,
            "payload_too_large",
        ),
    ];
    for (ct, body, status, code) in cases {
        assert_error(app.post_raw("/v1/register", ct, body).await, status, code).await;
    }
    // Without a content type at all.
    let res = app
        .client
        .post(app.url("/v1/register"))
        .body(good)
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn duplicate_keys_are_refused_so_parsers_cannot_disagree() {
    let app = spawn_app().await;
    let id = TestIdentity::generate();
    let env = id.registration("alice", SERVER);
    let text = serde_json::to_string(&env).unwrap();
    // A second "handle" key: serde_json would keep the last one, JS the last, some parsers the first.
    let dup = text.replacen(
        "\"handle\":\"alice\"",
        "\"handle\":\"alice\",\"handle\":\"mallory\"",
        1,
    );
    assert_ne!(dup, text);
    assert_text_refused(&app, dup, 400, "invalid_json").await;
    // The same at the top level.
    let dup = text.replacen("{", "{\"kez\":\"x\",", 1);
    assert_text_refused(&app, dup, 400, "invalid_json").await;
}

#[tokio::test]
async fn unsafe_numbers_in_signed_payloads_are_refused() {
    let app = spawn_app().await;
    let id = TestIdentity::generate();
    for v in [
        json!(1.0),
        json!(9_007_199_254_740_993u64),
        json!(-9_007_199_254_740_993i64),
    ] {
        let mut p = id.registration_payload("alice", SERVER);
        p["version"] = v;
        assert_refused(&app, &id.sign_envelope(p), 400, "unsafe_number").await;
    }
    let raw = serde_json::to_string(&id.registration("alice", SERVER))
        .unwrap()
        .replacen("\"version\":1", "\"version\":1e0", 1);
    assert_text_refused(&app, raw, 400, "unsafe_number").await;
}
