//! `tests/vectors/ops.json` (SPEC §8.5), every verdict recomputed; the web
//! client's `web/tests/ops-vectors.test.ts` reads the same file.

mod common;

use common::{bytes, load, s};

use chrono::{DateTime, Utc};
use kez_core::ops::{self, MAX_EMOJI_BYTES, MAX_OP_TEXT_BYTES};
use kez_core::{Identity, envelope, json};
use serde_json::Value;

#[test]
fn constants_match() {
    let doc = load("ops.json");
    assert_eq!(doc["max_op_text_bytes"], MAX_OP_TEXT_BYTES);
    assert_eq!(doc["max_emoji_bytes"], MAX_EMOJI_BYTES);
}

#[test]
fn body_verdicts_hold() {
    let doc = load("ops.json");
    for (part, want) in [("valid", "ok"), ("invalid", "malformed_message")] {
        let cases = doc[part].as_array().unwrap();
        assert!(cases.len() > 8, "{part}");
        for c in cases {
            let got = ops::parse_body(s(&c["kind"]), s(&c["body"]));
            let verdict = if got.is_some() {
                "ok"
            } else {
                "malformed_message"
            };
            assert_eq!(verdict, want, "{}", s(&c["name"]));
            assert_eq!(s(&c["verdict"]), want, "{}", s(&c["name"]));
            if let Some(op) = got {
                // Accepted bodies are exactly what the builder writes.
                assert_eq!(ops::body(&op), s(&c["body"]), "{}", s(&c["name"]));
            }
        }
    }
}

#[test]
fn sealed_verdicts_hold_and_seal_to_the_same_bytes() {
    let doc = load("ops.json");
    let cases = doc["sealed"].as_array().unwrap();
    assert!(cases.iter().any(|c| c["verdict"] == "ok"));
    assert!(cases.iter().any(|c| c["verdict"] != "ok"));
    for c in cases {
        let name = s(&c["name"]);
        let recipient = bytes::<32>(&c["recipient_seed"]);
        let now: DateTime<Utc> = s(&c["now"]).parse().unwrap();
        let verdict = envelope::open(&c["envelope"], &recipient, now, |_| false)
            .map_or_else(|e| e.code(), |_| "ok");
        assert_eq!(verdict, s(&c["verdict"]), "{name}");
        let msg: Value = serde_json::from_str(s(&c["plaintext"])).unwrap();
        assert_eq!(json::canonical_bytes(&msg), s(&c["plaintext"]).as_bytes());
        let to = Identity::parse(s(&msg["to"])).unwrap();
        let env = envelope::seal_with(
            &msg,
            &to,
            bytes::<32>(&c["ephemeral_secret"]),
            bytes::<12>(&c["nonce"]),
        )
        .unwrap();
        assert_eq!(env, c["envelope"], "{name}");
    }
}
