//! Regenerates `tests/vectors/live.json` (SPEC §8.6): sealed `read` and
//! `typing` messages, signed and sealed with fixed keys, with the verdict
//! `envelope::open` gives each (accepted ones and every shape rejection).
//! Deterministic: running it again yields the same bytes.
//! `crates/kez-core/tests/live_vectors.rs` and `web/tests/live-vectors.test.ts`
//! recompute every field.
//!
//! `cargo run --example gen-live-vectors` (writes the file itself).

use ed25519_dalek::SigningKey;
use kez_chat_server::kez::live::{TypingState, typing_body};
use kez_chat_server::kez::{Identity, envelope, json};
use serde_json::{Value, json};

const NOW: &str = "2026-05-25T03:00:00Z";

fn seed(byte: u8) -> [u8; 32] {
    [byte; 32]
}

fn primary(seed: &[u8; 32]) -> String {
    let vk = SigningKey::from_bytes(seed).verifying_key();
    format!("ed25519:{}", hex::encode(vk.as_bytes()))
}

fn ids(n: usize) -> String {
    (0..n)
        .map(|i| format!("read-vector-{i:010}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `(name, kind, body, with ack_sig, expected verdict)`.
fn cases() -> Vec<(&'static str, &'static str, String, bool, &'static str)> {
    let active = typing_body(TypingState::Active);
    let bad = "malformed_message";
    vec![
        ("read one id", "read", ids(1), false, "ok"),
        ("read 100 ids", "read", ids(100), false, "ok"),
        ("typing active", "typing", active.clone(), false, "ok"),
        (
            "typing paused",
            "typing",
            typing_body(TypingState::Paused),
            false,
            "ok",
        ),
        ("read with ack_sig", "read", ids(1), true, bad),
        ("read 101 ids", "read", ids(101), false, bad),
        (
            "read duplicate id",
            "read",
            format!("{},{}", ids(1), ids(1)),
            false,
            bad,
        ),
        ("read empty body", "read", String::new(), false, bad),
        (
            "read trailing comma",
            "read",
            format!("{},", ids(2)),
            false,
            bad,
        ),
        ("read short id", "read", "short".to_owned(), false, bad),
        ("typing with ack_sig", "typing", active, true, bad),
        (
            "typing unknown state",
            "typing",
            r#"{"state":"idle","type":"kez-typing-v1"}"#.to_owned(),
            false,
            bad,
        ),
        (
            "typing keys not sorted",
            "typing",
            r#"{"type":"kez-typing-v1","state":"active"}"#.to_owned(),
            false,
            bad,
        ),
        (
            "typing extra field",
            "typing",
            r#"{"state":"active","type":"kez-typing-v1","x":1}"#.to_owned(),
            false,
            bad,
        ),
        (
            "typing wrong type",
            "typing",
            r#"{"state":"active","type":"kez-typing-v2"}"#.to_owned(),
            false,
            bad,
        ),
        (
            "typing plain text",
            "typing",
            "typing".to_owned(),
            false,
            bad,
        ),
    ]
}

fn main() {
    let (sender, recipient) = (seed(0x31), seed(0x42));
    let sk = SigningKey::from_bytes(&sender);
    let to = Identity::parse(&primary(&recipient)).expect("valid key");
    let now = NOW.parse().expect("time");
    let out: Vec<Value> = cases()
        .into_iter()
        .enumerate()
        .map(|(n, (name, kind, body, ack_sig, expected))| {
            let mut fields = json!({"type": "kez.chat.message", "version": 2, "kind": kind,
                "id": format!("live-vector-{n:08}"), "from": primary(&sender),
                "from_handle": "alice@kez.lat", "to": to.to_string(), "sent_at": NOW,
                "body": body});
            if ack_sig {
                fields["ack_sig"] = json!(envelope::sign_ack(&sk, &body));
            }
            let msg = envelope::sign_message(&sk, fields.as_object().expect("object").clone());
            let eph = [u8::try_from(0x50 + n).expect("small"); 32];
            let nonce = [u8::try_from(0x70 + n).expect("small"); 12];
            let env = envelope::seal_with(&msg, &to, eph, nonce).expect("seal");
            let verdict = envelope::open(&env, &recipient, now, |_| false)
                .map_or_else(|e| e.code(), |_| "ok");
            assert_eq!(
                verdict, expected,
                "{name}: the core disagrees with SPEC §8.6"
            );
            json!({"name": name, "sender_seed": hex::encode(sender),
                   "recipient_seed": hex::encode(recipient), "now": NOW,
                   "ephemeral_secret": hex::encode(eph), "nonce": hex::encode(nonce),
                   "sealed_message": msg,
                   "plaintext": String::from_utf8(json::canonical_bytes(&msg)).expect("utf-8"),
                   "envelope": env, "verdict": verdict})
        })
        .collect();
    let doc = json!({
        "spec": "docs/SPEC.md §8.6 (read receipts and typing)",
        "generated_by": "cargo run --example gen-live-vectors",
        "description": "Sealed read/typing messages: sign_message(fields) must give sealed_message, seal_with(sealed_message, recipient, ephemeral_secret, nonce) must give envelope, and opening it with recipient_seed at now (nothing seen) must give verdict (ok or the SPEC §8 code).",
        "typing_bodies": {"active": typing_body(TypingState::Active), "paused": typing_body(TypingState::Paused)},
        "sealed": out,
    });
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/live.json");
    let text = serde_json::to_string_pretty(&doc).expect("JSON") + "\n";
    std::fs::write(path, text).expect("write tests/vectors/live.json");
    eprintln!("wrote {path}");
}
