//! Regenerates `tests/vectors/sync.json` (SPEC §8.7): sealed `sync`
//! messages (block and mute snapshots an identity sends itself), signed and
//! sealed with fixed keys, with the verdict `envelope::open` gives each
//! (accepted ones and every shape rejection). Deterministic.
//! `crates/kez-core/tests/sync_vectors.rs` and `web/tests/sync-vectors.test.ts`
//! recompute every field.
//!
//! `cargo run --example gen-sync-vectors` (writes the file itself).

use ed25519_dalek::SigningKey;
use kez_chat_server::kez::sync::sync_body;
use kez_chat_server::kez::{Identity, envelope, json};
use serde_json::{Value, json};

const NOW: &str = "2026-05-25T03:00:00Z";

fn primary(seed: &[u8; 32]) -> String {
    let vk = SigningKey::from_bytes(seed).verifying_key();
    format!("ed25519:{}", hex::encode(vk.as_bytes()))
}

fn raw(blocked: &[&str], muted: &[&str], extra: &str) -> String {
    let q = |l: &[&str]| {
        l.iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"blocked":[{}],"muted":[{}],"type":"kez-sync-v1"{extra}}}"#,
        q(blocked),
        q(muted)
    )
}

/// `(name, body, to self, with ack_sig, expected verdict)`.
fn cases(a: &str, b: &str) -> Vec<(&'static str, String, bool, bool, &'static str)> {
    let bad = "malformed_message";
    let mut many: Vec<String> = (0..1001u16)
        .map(|i| {
            let mut seed = [0x77u8; 32];
            seed[..2].copy_from_slice(&i.to_be_bytes());
            primary(&seed)
        })
        .collect();
    many.sort_unstable();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    vec![
        ("empty lists", sync_body(&[], &[]), true, false, "ok"),
        (
            "blocked and muted",
            sync_body(&[b, a], &[a]),
            true,
            false,
            "ok",
        ),
        (
            "1000 blocked",
            sync_body(&many[..1000], &[]),
            true,
            false,
            "ok",
        ),
        ("1001 blocked", raw(&many, &[], ""), true, false, bad),
        (
            "to another identity",
            sync_body(&[a], &[]),
            false,
            false,
            bad,
        ),
        ("with ack_sig", sync_body(&[a], &[]), true, true, bad),
        (
            "not sorted",
            raw(&[a, b].iter().copied().rev().collect::<Vec<_>>(), &[], ""),
            true,
            false,
            bad,
        ),
        ("repeated primary", raw(&[a, a], &[], ""), true, false, bad),
        (
            "not a primary",
            raw(&["ed25519:00"], &[], ""),
            true,
            false,
            bad,
        ),
        ("extra field", raw(&[], &[], r#","x":1"#), true, false, bad),
        (
            "missing muted",
            r#"{"blocked":[],"type":"kez-sync-v1"}"#.to_owned(),
            true,
            false,
            bad,
        ),
        (
            "keys not sorted",
            r#"{"type":"kez-sync-v1","blocked":[],"muted":[]}"#.to_owned(),
            true,
            false,
            bad,
        ),
        (
            "wrong type",
            r#"{"blocked":[],"muted":[],"type":"kez-sync-v2"}"#.to_owned(),
            true,
            false,
            bad,
        ),
    ]
}

fn main() {
    let (own, other) = ([0x33u8; 32], [0x44u8; 32]);
    let sk = SigningKey::from_bytes(&own);
    let me = primary(&own);
    let (a, b) = (primary(&[0x55; 32]), primary(&[0x66; 32]));
    let (a, b) = if a < b { (a, b) } else { (b, a) };
    let now = NOW.parse().expect("time");
    let out: Vec<Value> = cases(&a, &b)
        .into_iter()
        .enumerate()
        .map(|(n, (name, body, to_self, ack_sig, expected))| {
            // Sealed to the own primary either way: "to another identity" names
            // another `to` inside, so only the from == to rule refuses it.
            let to = if to_self { me.clone() } else { primary(&other) };
            let mut fields = json!({"type": "kez.chat.message", "version": 2, "kind": "sync",
                "id": format!("sync-vector-{n:08}"), "from": me, "from_handle": "alice@kez.lat",
                "to": to, "sent_at": NOW, "body": body});
            if ack_sig {
                fields["ack_sig"] = json!(envelope::sign_ack(&sk, &body));
            }
            let msg = envelope::sign_message(&sk, fields.as_object().expect("object").clone());
            let rx = Identity::parse(&me).expect("valid key");
            let eph = [u8::try_from(0x50 + n).expect("small"); 32];
            let nonce = [u8::try_from(0x70 + n).expect("small"); 12];
            let env = envelope::seal_with(&msg, &rx, eph, nonce).expect("seal");
            let verdict =
                envelope::open(&env, &own, now, |_| false).map_or_else(|e| e.code(), |_| "ok");
            assert_eq!(
                verdict, expected,
                "{name}: the core disagrees with SPEC §8.7"
            );
            json!({"name": name, "sender_seed": hex::encode(own),
                   "recipient_seed": hex::encode(own), "now": NOW,
                   "ephemeral_secret": hex::encode(eph), "nonce": hex::encode(nonce),
                   "sealed_message": msg,
                   "plaintext": String::from_utf8(json::canonical_bytes(&msg)).expect("utf-8"),
                   "envelope": env, "verdict": verdict})
        })
        .collect();
    let doc = json!({
        "spec": "docs/SPEC.md §8.7 (settings that follow the identity)",
        "generated_by": "cargo run --example gen-sync-vectors",
        "description": "Sealed sync snapshots: sign_message(fields) must give sealed_message, seal_with(sealed_message, recipient_seed's identity, ephemeral_secret, nonce) must give envelope, and opening it with recipient_seed at now (nothing seen) must give verdict (ok or the SPEC §8 code).",
        "bodies": {"blocked_and_muted": {"blocked": [&b, &a], "muted": [&a], "body": sync_body(&[&b, &a], &[&a])}},
        "sealed": out,
    });
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/sync.json");
    let text = serde_json::to_string_pretty(&doc).expect("JSON") + "\n";
    std::fs::write(path, text).expect("write tests/vectors/sync.json");
    eprintln!("wrote {path}");
}
