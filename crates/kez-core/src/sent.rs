//! Self-copies (SPEC §8.3): a sealed message of `kind: "sent"`, sealed by an
//! identity to its own primary, carrying a message it sent to a peer, so
//! every device of the identity (and one restored from its phrase) sees both
//! sides of a conversation within the mailbox's retention.

use serde::Deserialize;
use serde_json::{Value, json};

use super::envelope::{OpenedMessage, message_shape};
use super::json;

/// The `type` tag of a self-copy's body.
pub const SENT_TYPE: &str = "kez-sent-v1";
/// Longest `to_handle`, in UTF-8 bytes.
pub const MAX_TO_HANDLE_BYTES: usize = 320;

/// A checked self-copy's body.
#[derive(Debug, Clone)]
pub struct SelfCopy {
    /// The peer's primary (the original's `to`).
    pub to: String,
    /// The peer's `handle@server` as the sender knew it: a hint to confirm
    /// with the directory, like `from_handle`.
    pub to_handle: Option<String>,
    /// The original sealed message object, `sig` included. Its signature is
    /// checked by [`crate::envelope::open`], after the outer one.
    pub message: Value,
    /// The original, read (kind `text`, `file` or a SPEC §8.5 op).
    pub original: OpenedMessage,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBody {
    #[serde(rename = "type")]
    tag: String,
    to: String,
    to_handle: Option<String>,
    message: Value,
}

/// The body of a self-copy of `message` (the signed original sent to `to`).
pub fn sent_body(to: &str, to_handle: Option<&str>, message: &Value) -> String {
    let body = json!({"type": SENT_TYPE, "to": to, "to_handle": to_handle, "message": message});
    String::from_utf8(json::canonical_bytes(&body)).expect("JCS is UTF-8")
}

/// The SPEC §8.3 checks of a `sent` message's shape; `None` means
/// `malformed_message`. The original's signature is left to the caller.
pub fn parse(outer: &OpenedMessage) -> Option<SelfCopy> {
    if outer.kind != "sent" || outer.from != outer.to {
        return None;
    }
    let value = json::parse_strict(outer.body.as_bytes()).ok()?;
    if json::canonical_bytes(&value) != outer.body.as_bytes() {
        return None;
    }
    // `to_handle` must be present, even as null.
    value.get("to_handle")?;
    let raw: RawBody = serde_json::from_value(value).ok()?;
    let handle_ok = raw.to_handle.as_deref().is_none_or(|h| {
        !h.is_empty() && h.len() <= MAX_TO_HANDLE_BYTES && !h.chars().any(char::is_control)
    });
    if raw.tag != SENT_TYPE || !handle_ok || raw.to == outer.from {
        return None;
    }
    let (original, _) = message_shape(&raw.message).ok()?;
    let same = matches!(
        original.kind.as_str(),
        "text" | "file" | "reply" | "reaction" | "edit" | "delete"
    ) && original.from == outer.from
        && original.to == raw.to
        && original.id == outer.id
        && original.sent_at == outer.sent_at;
    same.then_some(SelfCopy {
        to: raw.to,
        to_handle: raw.to_handle,
        message: raw.message,
        original,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;
    use crate::envelope::{open, seal, sign_message};
    use chrono::{DateTime, Utc};
    use ed25519_dalek::SigningKey;

    fn primary(key: &SigningKey) -> String {
        Identity::from_bytes(key.verifying_key().as_bytes())
            .unwrap()
            .to_string()
    }

    fn message(key: &SigningKey, kind: &str, to: &str, body: &str) -> Value {
        let fields = json!({
            "type": "kez.chat.message", "version": 2, "kind": kind,
            "id": "c2VudCBjb3B5IHRlc3QxMg", "from": primary(key),
            "from_handle": "alice@kez.test", "to": to,
            "sent_at": "2026-05-25T03:00:00Z", "body": body,
        });
        let Value::Object(map) = fields else {
            unreachable!()
        };
        sign_message(key, map)
    }

    #[test]
    fn a_copy_built_here_opens_for_its_sender_only() {
        let alice = SigningKey::from_bytes(&[1; 32]);
        let bob = SigningKey::from_bytes(&[2; 32]);
        let original = message(&alice, "text", &primary(&bob), "hi bob");
        let body = sent_body(&primary(&bob), Some("bob@kez.test"), &original);
        let copy = message(&alice, "sent", &primary(&alice), &body);
        let now: DateTime<Utc> = "2026-05-25T03:01:00Z".parse().unwrap();
        let me = Identity::parse(&primary(&alice)).unwrap();
        let opened = open(&seal(&copy, &me), &[1; 32], now, |_| false).unwrap();
        let read = parse(&opened).unwrap();
        assert_eq!(read.to, primary(&bob));
        assert_eq!(read.to_handle.as_deref(), Some("bob@kez.test"));
        assert_eq!(read.original.body, "hi bob");
        assert_eq!(read.message, original);
        // A `sent` whose outer `to` is not its `from` is refused.
        let to_bob = message(&alice, "sent", &primary(&bob), &body);
        let bob_id = Identity::parse(&primary(&bob)).unwrap();
        assert_eq!(
            open(&seal(&to_bob, &bob_id), &[2; 32], now, |_| false).unwrap_err(),
            crate::envelope::OpenError::MalformedMessage
        );
    }
}
