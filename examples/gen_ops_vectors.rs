//! Regenerates `tests/vectors/ops.json` (SPEC §8.5): `reply`, `reaction`,
//! `edit` and `delete` bodies with their verdicts, and sealed messages of the
//! four kinds (and self-copies of them, SPEC §8.3) with the verdict
//! `envelope::open` gives. Deterministic: running it again yields the same
//! bytes. `crates/kez-core/tests/ops_vectors.rs` and the web client's
//! `web/tests/ops-vectors.test.ts` recompute every verdict.
//!
//! `cargo run --example gen_ops_vectors` (writes the file itself).

use ed25519_dalek::SigningKey;
use kez_chat_server::kez::ops::{self, MAX_EMOJI_BYTES, MAX_OP_TEXT_BYTES, Op};
use kez_chat_server::kez::{Identity, envelope, json, sent};
use serde_json::{Value, json};

const ID: &str = "AAECAwQFBgcICQoLDA0ODw";
const NOW: &str = "2026-05-25T03:00:00Z";

fn primary(seed: &[u8; 32]) -> String {
    let vk = SigningKey::from_bytes(seed).verifying_key();
    format!("ed25519:{}", hex::encode(vk.as_bytes()))
}

fn jcs(v: &Value) -> String {
    String::from_utf8(json::canonical_bytes(v)).expect("utf-8")
}

fn case(name: &str, kind: &str, body: &str) -> Value {
    let verdict = if ops::parse_body(kind, body).is_some() {
        "ok"
    } else {
        "malformed_message"
    };
    json!({"name": name, "kind": kind, "body": body, "verdict": verdict})
}

fn valid() -> Vec<Value> {
    let reply = |t: &str| Op::Reply {
        reply_to: ID.into(),
        text: t.into(),
    };
    let react = |e: &str| Op::Reaction {
        target: ID.into(),
        emoji: e.into(),
    };
    let ops_ = [
        ("reply", reply("sounds good")),
        ("reply non-ASCII, newline", reply("ça va?\nyes 👍")),
        (
            "reply at the text limit",
            reply(&"a".repeat(MAX_OP_TEXT_BYTES)),
        ),
        ("reaction", react("👍")),
        ("reaction with skin tone", react("👍🏽")),
        ("reaction ZWJ family", react("👨‍👩‍👧")),
        ("reaction flag", react("🇫🇷")),
        ("reaction keycap", react("1\u{FE0F}\u{20E3}")),
        ("reaction heart with VS16", react("❤\u{FE0F}")),
        (
            "reaction subdivision flag (tags)",
            react("🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}"),
        ),
        ("reaction copyright sign", react("©\u{FE0F}")),
        (
            "reaction at 32 bytes",
            react(&"😀".repeat(MAX_EMOJI_BYTES / 4)),
        ),
        ("reaction removed", react("")),
        (
            "edit",
            Op::Edit {
                target: ID.into(),
                text: "fixed typo".into(),
            },
        ),
        ("delete", Op::Delete { target: ID.into() }),
    ];
    ops_.into_iter()
        .map(|(name, op)| case(name, ops::kind_of(&op), &ops::body(&op)))
        .collect()
}

fn invalid() -> Vec<Value> {
    let long_id = "A".repeat(65);
    let bad: Vec<(&str, &str, String)> = vec![
        (
            "reply missing text",
            "reply",
            jcs(&json!({"type": "kez-reply-v1", "reply_to": ID})),
        ),
        (
            "reply extra field",
            "reply",
            jcs(&json!({"type": "kez-reply-v1", "reply_to": ID, "text": "x", "quote": "y"})),
        ),
        (
            "reply text a number",
            "reply",
            jcs(&json!({"type": "kez-reply-v1", "reply_to": ID, "text": 5})),
        ),
        (
            "reply empty text",
            "reply",
            jcs(&json!({"type": "kez-reply-v1", "reply_to": ID, "text": ""})),
        ),
        (
            "reply text over the limit",
            "reply",
            jcs(
                &json!({"type": "kez-reply-v1", "reply_to": ID, "text": "a".repeat(MAX_OP_TEXT_BYTES + 1)}),
            ),
        ),
        (
            "reply non-JCS key order",
            "reply",
            format!(r#"{{"type":"kez-reply-v1","reply_to":"{ID}","text":"x"}}"#),
        ),
        (
            "reply non-JCS whitespace",
            "reply",
            format!(r#"{{"reply_to": "{ID}","text":"x","type":"kez-reply-v1"}}"#),
        ),
        (
            "reply non-JCS escape",
            "reply",
            format!(r#"{{"reply_to":"{ID}","text":"\u0041","type":"kez-reply-v1"}}"#),
        ),
        (
            "reply text a lone surrogate",
            "reply",
            format!(r#"{{"reply_to":"{ID}","text":"\ud800","type":"kez-reply-v1"}}"#),
        ),
        (
            "reply duplicate key",
            "reply",
            format!(r#"{{"reply_to":"{ID}","text":"x","text":"y","type":"kez-reply-v1"}}"#),
        ),
        (
            "reply_to too short",
            "reply",
            jcs(&json!({"type": "kez-reply-v1", "reply_to": "short", "text": "x"})),
        ),
        (
            "reply_to too long",
            "reply",
            jcs(&json!({"type": "kez-reply-v1", "reply_to": long_id, "text": "x"})),
        ),
        (
            "reply_to with a slash",
            "reply",
            jcs(
                &json!({"type": "kez-reply-v1", "reply_to": "AAECAwQFBgcICQoL/A0ODw", "text": "x"}),
            ),
        ),
        (
            "reply_to null",
            "reply",
            jcs(&json!({"type": "kez-reply-v1", "reply_to": null, "text": "x"})),
        ),
        (
            "reply wrong type tag",
            "reply",
            jcs(&json!({"type": "kez-edit-v1", "reply_to": ID, "text": "x"})),
        ),
        ("reply body an array", "reply", "[]".into()),
        ("reply body a string", "reply", "\"x\"".into()),
        ("reply body not JSON", "reply", "hello".into()),
        (
            "reaction emoji over 32 bytes",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "😀".repeat(9)})),
        ),
        (
            "reaction emoji with a space",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "👍 "})),
        ),
        (
            "reaction emoji with RLO",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "\u{202E}👍"})),
        ),
        (
            "reaction emoji with a control",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "👍\n"})),
        ),
        (
            "reaction emoji with ZWSP",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "👍\u{200B}"})),
        ),
        (
            "reaction a word",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "LOL"})),
        ),
        (
            "reaction a domain",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "SCAM.COM"})),
        ),
        (
            "reaction a letter",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "a"})),
        ),
        (
            "reaction a digit",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "1"})),
        ),
        (
            "reaction one regional indicator",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "\u{1F1EB}"})),
        ),
        (
            "reaction emoji then letters",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "👍ok"})),
        ),
        (
            "reaction ZWJ only",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "\u{200D}"})),
        ),
        (
            "reaction VS16 only",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "\u{FE0F}"})),
        ),
        (
            "reaction a CJK character",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "中"})),
        ),
        (
            "reaction emoji missing",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID})),
        ),
        (
            "reaction with text",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": ID, "emoji": "👍", "text": "x"})),
        ),
        (
            "reaction bad target",
            "reaction",
            jcs(&json!({"type": "kez-reaction-v1", "target": "not an id at all!!", "emoji": "👍"})),
        ),
        (
            "edit with reply_to",
            "edit",
            jcs(&json!({"type": "kez-edit-v1", "target": ID, "reply_to": ID, "text": "x"})),
        ),
        (
            "edit empty text",
            "edit",
            jcs(&json!({"type": "kez-edit-v1", "target": ID, "text": ""})),
        ),
        (
            "edit missing target",
            "edit",
            jcs(&json!({"type": "kez-edit-v1", "text": "x"})),
        ),
        (
            "edit target a number",
            "edit",
            jcs(&json!({"type": "kez-edit-v1", "target": 7, "text": "x"})),
        ),
        (
            "delete with text",
            "delete",
            jcs(&json!({"type": "kez-delete-v1", "target": ID, "text": "x"})),
        ),
        (
            "delete target null",
            "delete",
            jcs(&json!({"type": "kez-delete-v1", "target": null})),
        ),
        (
            "delete bad target",
            "delete",
            jcs(&json!({"type": "kez-delete-v1", "target": "AAECAwQFBgcICQ"})),
        ),
        (
            "delete wrong type tag",
            "delete",
            jcs(&json!({"type": "kez-reply-v1", "target": ID})),
        ),
        (
            "edit body under kind reply",
            "reply",
            ops::body(&Op::Edit {
                target: ID.into(),
                text: "x".into(),
            }),
        ),
        (
            "delete body under kind edit",
            "edit",
            ops::body(&Op::Delete { target: ID.into() }),
        ),
    ];
    bad.into_iter().map(|(n, k, b)| case(n, k, &b)).collect()
}

/// A signed sealed message of `kind` from `sender` to `to`.
fn message(sender: &[u8; 32], to: &str, kind: &str, id: &str, body: &str, ack_sig: bool) -> Value {
    let sk = SigningKey::from_bytes(sender);
    let mut fields = json!({"type": "kez.chat.message", "version": 2, "kind": kind,
        "id": id, "from": primary(sender), "from_handle": "alice@kez.lat",
        "to": to, "sent_at": NOW, "body": body});
    if ack_sig {
        fields["ack_sig"] = json!(envelope::sign_ack(&sk, "x"));
    }
    envelope::sign_message(&sk, fields.as_object().expect("object").clone())
}

fn sealed() -> Vec<Value> {
    let (alice, bob) = ([0x11; 32], [0x22; 32]);
    let now = NOW.parse().expect("time");
    let reply = ops::body(&Op::Reply {
        reply_to: ID.into(),
        text: "yes".into(),
    });
    let reaction = ops::body(&Op::Reaction {
        target: ID.into(),
        emoji: "❤️".into(),
    });
    let edit = ops::body(&Op::Edit {
        target: ID.into(),
        text: "edited".into(),
    });
    let delete = ops::body(&Op::Delete { target: ID.into() });
    let to_bob = |kind: &str, n: usize, body: &str, ack: bool| {
        (
            bob,
            message(
                &alice,
                &primary(&bob),
                kind,
                &format!("ops-vector-{n:09}"),
                body,
                ack,
            ),
        )
    };
    let copy = |kind: &str, n: usize, body: &str, outer_id: Option<&str>| {
        let id = format!("ops-vector-{n:09}");
        let original = message(&alice, &primary(&bob), kind, &id, body, false);
        let b = sent::sent_body(&primary(&bob), Some("bob@kez.lat"), &original);
        (
            alice,
            message(
                &alice,
                &primary(&alice),
                "sent",
                outer_id.unwrap_or(&id),
                &b,
                false,
            ),
        )
    };
    let cases = [
        ("reply", to_bob("reply", 0, &reply, false)),
        ("reaction", to_bob("reaction", 1, &reaction, false)),
        ("edit", to_bob("edit", 2, &edit, false)),
        ("delete", to_bob("delete", 3, &delete, false)),
        (
            "reaction with ack_sig",
            to_bob("reaction", 4, &reaction, true),
        ),
        ("reply with an edit body", to_bob("reply", 5, &edit, false)),
        ("self-copy of a reply", copy("reply", 6, &reply, None)),
        (
            "self-copy of a reaction",
            copy("reaction", 7, &reaction, None),
        ),
        ("self-copy of an edit", copy("edit", 8, &edit, None)),
        ("self-copy of a delete", copy("delete", 9, &delete, None)),
        (
            "self-copy of a delete under another id",
            copy("delete", 10, &delete, Some("ops-vector-other-id")),
        ),
    ];
    cases
        .into_iter()
        .enumerate()
        .map(|(n, (name, (recipient, msg)))| {
            let to = Identity::parse(&primary(&recipient)).expect("valid key");
            let eph = [u8::try_from(0x40 + n).expect("small"); 32];
            let nonce = [u8::try_from(0x60 + n).expect("small"); 12];
            let env = envelope::seal_with(&msg, &to, eph, nonce).expect("seal");
            let verdict = envelope::open(&env, &recipient, now, |_| false)
                .map_or_else(|e| e.code(), |_| "ok");
            json!({"name": name, "recipient_seed": hex::encode(recipient), "now": NOW,
                   "ephemeral_secret": hex::encode(eph), "nonce": hex::encode(nonce),
                   "plaintext": jcs(&msg), "envelope": env, "verdict": verdict})
        })
        .collect()
}

fn main() {
    let doc = json!({
        "description": "SPEC §8.5 message operations: body verdicts and sealed messages (generated by examples/gen_ops_vectors.rs)",
        "max_op_text_bytes": MAX_OP_TEXT_BYTES,
        "max_emoji_bytes": MAX_EMOJI_BYTES,
        "valid": valid(),
        "invalid": invalid(),
        "sealed": sealed(),
    });
    let text = serde_json::to_string_pretty(&doc).expect("json") + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ops.json");
    std::fs::write(path, text).expect("write tests/vectors/ops.json");
}
