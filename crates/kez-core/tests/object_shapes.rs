//! Signed documents and every record inside them are JSON objects (SPEC §2):
#![allow(clippy::needless_pass_by_value)] // call sites read better passing owned bodies
//! serde's derive alone would also fill a struct from an array in field
//! order, so each array form below must be refused with `invalid_body`
//! (review BLOCKER: the TS twin refuses them, Rust accepted them).

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey};
use kez_core::json::canonical_bytes;
use kez_core::profile::{self, PNG_PREFIX, PROFILE_TYPE};
use kez_core::sigchain::{self, LINK_TYPE, PROOF_TYPE};
use kez_core::signed::{self, REGISTRATION_TAG, REGISTRATION_TYPE};
use serde_json::{Value, json};

const T0: &str = "2026-05-25T03:00:00Z";
const GIST: &str = "https://gist.github.com/alice/0123456789abcdef0123";
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn now() -> DateTime<Utc> {
    T0.parse().unwrap()
}

fn sk() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

fn primary() -> String {
    format!("ed25519:{}", hex::encode(sk().verifying_key().as_bytes()))
}

/// `{"kez", "payload", "signature"}` with the signature over `payload`'s JCS.
fn envelope(tag: &str, payload: &Value) -> Value {
    let sig = hex::encode(sk().sign(&canonical_bytes(payload)).to_bytes());
    json!({"kez": tag, "payload": payload,
           "signature": {"alg": "ed25519-sha512-jcs", "key": primary(), "sig": sig}})
}

/// The array forms of a good envelope: itself, its signature block, and its
/// payload re-signed, each in the struct's field order.
fn array_forms(good: &Value, payload_fields: &[&str]) -> Vec<Value> {
    let tag = good["kez"].as_str().unwrap();
    let s = &good["signature"];
    let whole = json!([good["kez"], good["payload"], s]);
    let mut sig = good.clone();
    sig["signature"] = json!([s["alg"], s["key"], s["sig"]]);
    let fields: Vec<Value> = payload_fields
        .iter()
        .map(|f| good["payload"][*f].clone())
        .collect();
    vec![whole, sig, envelope(tag, &Value::Array(fields))]
}

fn link_payload(body: Value) -> Value {
    json!({"type": LINK_TYPE, "version": 1, "primary": primary(), "seq": 1, "prev": null,
           "created_at": T0, "body": body})
}

#[test]
fn links_in_array_form_are_refused() {
    let claim = json!({"service": "github", "name": "alice", "proof": GIST});
    let good = envelope(
        "sigchain_link",
        &link_payload(json!({"op": "add", "claim": claim})),
    );
    sigchain::verify_link(&good, Some(now())).unwrap();
    let fields = [
        "type",
        "version",
        "primary",
        "seq",
        "prev",
        "created_at",
        "body",
    ];
    let mut bad = array_forms(&good, &fields);
    bad.push(envelope(
        "sigchain_link",
        &link_payload(json!(["add", claim])),
    ));
    bad.push(envelope(
        "sigchain_link",
        &link_payload(json!({"op": "add", "claim": ["github", "alice", GIST]})),
    ));
    for (i, doc) in bad.iter().enumerate() {
        let err = sigchain::verify_link(doc, Some(now())).unwrap_err();
        assert_eq!(err.code(), "invalid_body", "case {i}: {err}");
    }
}

#[test]
fn proofs_in_array_form_are_refused() {
    let payload = json!({"type": PROOF_TYPE, "version": 1, "primary": primary(),
                         "service": "github", "name": "alice", "created_at": T0});
    let good = envelope("sigchain_proof", &payload);
    sigchain::verify_proof(&good).unwrap();
    let fields = [
        "type",
        "version",
        "primary",
        "service",
        "name",
        "created_at",
    ];
    for (i, doc) in array_forms(&good, &fields).iter().enumerate() {
        let err = sigchain::verify_proof(doc).unwrap_err();
        assert_eq!(err.code(), "invalid_body", "case {i}: {err}");
    }
}

#[test]
fn registrations_in_array_form_are_refused() {
    let payload = json!({"type": REGISTRATION_TYPE, "version": 1, "handle": "alice",
                         "primary": primary(), "server": "kez.lat", "created_at": T0});
    let good = envelope(REGISTRATION_TAG, &payload);
    signed::verify_registration(&good, "kez.lat", now()).unwrap();
    let fields = [
        "type",
        "version",
        "handle",
        "primary",
        "server",
        "created_at",
    ];
    for (i, doc) in array_forms(&good, &fields).iter().enumerate() {
        let err = signed::verify_registration(doc, "kez.lat", now()).unwrap_err();
        assert_eq!(err.code(), "invalid_body", "case {i}: {err}");
    }
}

fn profile_payload(wrap: &Value) -> Value {
    json!({"type": PROFILE_TYPE, "version": 1, "handle": "alice", "server": "kez.lat",
           "primary": primary(), "display_name": "Alice",
           "picture": format!("{PNG_PREFIX}{PNG}#kez-visual-v1:00112233445566778899aabbccddeeff"),
           "visual_keys": [wrap], "updated_at": T0})
}

#[test]
fn profiles_in_array_form_are_refused() {
    let (epk, nonce, ct) = ("ab".repeat(32), "cd".repeat(12), "A".repeat(64));
    let good = profile::sign_profile(
        &sk(),
        &profile_payload(&json!({"epk": epk, "nonce": nonce, "ct": ct})),
    );
    profile::verify_profile(&good, "kez.lat", Some(now())).unwrap();
    let fields = [
        "type",
        "version",
        "handle",
        "server",
        "primary",
        "display_name",
        "picture",
        "visual_keys",
        "updated_at",
    ];
    let mut bad = array_forms(&good, &fields);
    bad.push(profile::sign_profile(
        &sk(),
        &profile_payload(&json!([epk, nonce, ct])),
    ));
    for (i, doc) in bad.iter().enumerate() {
        let err = profile::verify_profile(doc, "kez.lat", Some(now())).unwrap_err();
        assert_eq!(err.code(), "invalid_body", "case {i}: {err}");
    }
}
