//! `tests/vectors/sync.json` (SPEC §8.7), checked field by field; the web
//! client's Vitest suite reads the same file.

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use kez_core::sync::{parse_body, sync_body};
use kez_core::{Identity, envelope, json};
use serde_json::Value;

fn load() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/sync.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn bytes<const N: usize>(v: &Value) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(s(v), &mut out).unwrap();
    out
}

#[test]
fn snapshot_body_matches() {
    let doc = load();
    let b = &doc["bodies"]["blocked_and_muted"];
    let blocked: Vec<&str> = b["blocked"].as_array().unwrap().iter().map(s).collect();
    let muted: Vec<&str> = b["muted"].as_array().unwrap().iter().map(s).collect();
    let body = sync_body(&blocked, &muted);
    assert_eq!(body, s(&b["body"]));
    let snap = parse_body(&body).unwrap();
    assert!(snap.blocked.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn sealed_sync_messages_open_as_stated() {
    let doc = load();
    let cases = doc["sealed"].as_array().unwrap();
    assert!(cases.iter().any(|c| c["verdict"] == "ok"));
    assert!(cases.iter().any(|c| c["verdict"] == "malformed_message"));
    for c in cases {
        let name = &c["name"];
        let msg = &c["sealed_message"];
        assert_eq!(
            json::canonical_bytes(msg),
            s(&c["plaintext"]).as_bytes(),
            "{name}"
        );
        let sender = SigningKey::from_bytes(&bytes::<32>(&c["sender_seed"]));
        let fields = msg.as_object().unwrap().clone();
        assert_eq!(&envelope::sign_message(&sender, fields), msg, "{name}");
        let rx_seed = bytes::<32>(&c["recipient_seed"]);
        let rx = SigningKey::from_bytes(&rx_seed);
        let to = Identity::from_bytes(rx.verifying_key().as_bytes()).unwrap();
        let env = envelope::seal_with(msg, &to, bytes(&c["ephemeral_secret"]), bytes(&c["nonce"]));
        assert_eq!(env.unwrap(), c["envelope"], "{name}");
        let now: DateTime<Utc> = s(&c["now"]).parse().unwrap();
        let verdict = envelope::open(&c["envelope"], &rx_seed, now, |_| false)
            .map_or_else(|e| e.code(), |_| "ok");
        assert_eq!(verdict, s(&c["verdict"]), "{name}");
    }
}
