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
    /// The original, read (kind `text` or `file`).
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
    let same = matches!(original.kind.as_str(), "text" | "file")
        && original.from == outer.from
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
