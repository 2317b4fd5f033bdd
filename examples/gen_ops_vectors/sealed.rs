//! Sealed messages of the four kinds (and self-copies of them, SPEC §8.3)
//! with the verdict `envelope::open` gives.

use ed25519_dalek::SigningKey;
use kez_chat_server::kez::ops::{self, Op};
use kez_chat_server::kez::{Identity, envelope, sent};
use serde_json::{Value, json};

use super::{ID, NOW, jcs, primary};

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

/// The sealed cases: every kind to its recipient, and self-copies.
pub(crate) fn sealed() -> Vec<Value> {
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
