//! Message operations (SPEC §8.5): the `reply`, `reaction`, `edit` and
//! `delete` kinds of the sealed message, whose `body` string is the JCS of
//! one small object naming an earlier message of the conversation.
//!
//! Pure checks and builders, like [`crate::file`]: [`crate::envelope::open`]
//! and the shared vectors (`tests/vectors/ops.json`) use them so the Rust
//! core and the web client accept the same bytes.

use serde::Deserialize;
use serde_json::json;

use super::json;

/// `type` of a `reply` body.
pub const REPLY_TYPE: &str = "kez-reply-v1";
/// `type` of a `reaction` body.
pub const REACTION_TYPE: &str = "kez-reaction-v1";
/// `type` of an `edit` body.
pub const EDIT_TYPE: &str = "kez-edit-v1";
/// `type` of a `delete` body.
pub const DELETE_TYPE: &str = "kez-delete-v1";
/// Longest reply or edit text, in UTF-8 bytes.
pub const MAX_OP_TEXT_BYTES: usize = 65_536;
/// Longest reaction emoji, in UTF-8 bytes (one emoji, ZWJ sequences included).
pub const MAX_EMOJI_BYTES: usize = 32;
/// The sealed-message kinds of SPEC §8.5.
pub const OP_KINDS: &[&str] = &["reply", "reaction", "edit", "delete"];

/// A checked operation body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A visible answer quoting `reply_to` (by id only: the receiver shows
    /// its own copy of the original).
    Reply {
        /// The message answered.
        reply_to: String,
        /// The reply's text.
        text: String,
    },
    /// The sender's reaction to `target`; empty `emoji` removes it.
    Reaction {
        /// The message reacted to.
        target: String,
        /// One emoji, or empty.
        emoji: String,
    },
    /// The sender's new text for its own `target`.
    Edit {
        /// The message edited.
        target: String,
        /// Its new text.
        text: String,
    },
    /// The sender deletes its own `target` for everyone.
    Delete {
        /// The message deleted.
        target: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(rename = "type")]
    tag: String,
    reply_to: Option<String>,
    target: Option<String>,
    text: Option<String>,
    emoji: Option<String>,
}

/// Whether `kind` is one of the SPEC §8.5 kinds.
#[must_use]
pub fn is_op_kind(kind: &str) -> bool {
    OP_KINDS.contains(&kind)
}

/// Whether `text` is a valid reply or edit text: 1 to [`MAX_OP_TEXT_BYTES`] bytes.
#[must_use]
pub fn valid_text(text: &str) -> bool {
    (1..=MAX_OP_TEXT_BYTES).contains(&text.len())
}

/// Pictographic code points of a reaction (SPEC §8.5 "emoji"): a fixed
/// list of ranges, not a Unicode property, so every implementation (and
/// Unicode version) agrees byte for byte. Regional indicators and skin
/// tones are components, not pictographs.
const fn is_pictographic(c: u32) -> bool {
    matches!(c,
        0xA9 | 0xAE | 0x203C | 0x2049 | 0x2122 | 0x2139 | 0x2194..=0x21AA | 0x231A..=0x23FF
        | 0x24C2 | 0x25AA..=0x25FE | 0x2600..=0x27BF | 0x2934..=0x2935 | 0x2B05..=0x2B55
        | 0x3030 | 0x303D | 0x3297 | 0x3299
        | 0x1_F000..=0x1_F1E5 | 0x1_F200..=0x1_F3FA | 0x1_F400..=0x1_FAFF)
}

/// Code points allowed beside pictographs: keycap bases `#*0-9`, ZWJ,
/// the combining keycap, VS16, skin tones and tag characters (subdivision
/// flags). Regional indicators are counted apart.
const fn is_emoji_component(c: u32) -> bool {
    matches!(c,
        0x23 | 0x2A | 0x30..=0x39 | 0x200D | 0x20E3 | 0xFE0F | 0x1_F3FB..=0x1_F3FF | 0xE_0020..=0xE_007F)
}

/// Whether `emoji` is a valid reaction (SPEC §8.5): empty, or 1 to
/// [`MAX_EMOJI_BYTES`] bytes of only pictographs, regional indicators and
/// emoji components, with at least one pictograph, a regional-indicator pair
/// or a keycap. Words ("LOL", "SCAM.COM") are refused: receivers show it as is.
#[must_use]
pub fn valid_emoji(emoji: &str) -> bool {
    if emoji.is_empty() {
        return true;
    }
    if emoji.len() > MAX_EMOJI_BYTES {
        return false;
    }
    let (mut pictograph, mut regional, mut keycap) = (false, 0_usize, false);
    for c in emoji.chars().map(u32::from) {
        if is_pictographic(c) {
            pictograph = true;
        } else if (0x1_F1E6..=0x1_F1FF).contains(&c) {
            regional += 1;
        } else if !is_emoji_component(c) {
            return false;
        } else if c == 0x20E3 {
            keycap = true;
        }
    }
    pictograph || regional >= 2 || keycap
}

/// The SPEC §8.5 checks of an op body of `kind`; `None` means `malformed_message`.
#[must_use]
pub fn parse_body(kind: &str, body: &str) -> Option<Op> {
    let value = json::parse_strict(body.as_bytes()).ok()?;
    if json::canonical_bytes(&value) != body.as_bytes() {
        return None;
    }
    let keys: Vec<&str> = value.as_object()?.keys().map(String::as_str).collect();
    let raw: Raw = serde_json::from_value(value.clone()).ok()?;
    let id_ok = |id: &Option<String>| id.as_deref().is_some_and(super::valid_message_id);
    let (op, tag, fields): (Op, &str, &[&str]) = match kind {
        "reply" if id_ok(&raw.reply_to) && raw.text.as_deref().is_some_and(valid_text) => (
            Op::Reply {
                reply_to: raw.reply_to?,
                text: raw.text?,
            },
            REPLY_TYPE,
            &["reply_to", "text", "type"],
        ),
        "reaction" if id_ok(&raw.target) && raw.emoji.as_deref().is_some_and(valid_emoji) => (
            Op::Reaction {
                target: raw.target?,
                emoji: raw.emoji?,
            },
            REACTION_TYPE,
            &["emoji", "target", "type"],
        ),
        "edit" if id_ok(&raw.target) && raw.text.as_deref().is_some_and(valid_text) => (
            Op::Edit {
                target: raw.target?,
                text: raw.text?,
            },
            EDIT_TYPE,
            &["target", "text", "type"],
        ),
        "delete" if id_ok(&raw.target) => (
            Op::Delete {
                target: raw.target?,
            },
            DELETE_TYPE,
            &["target", "type"],
        ),
        _ => return None,
    };
    // JCS sorts the keys, so the exact field set is this exact list.
    (raw.tag == tag && keys == fields).then_some(op)
}

/// The JCS body of `op` (the string a sealed message of [`kind_of`] carries).
#[must_use]
pub fn body(op: &Op) -> String {
    let v = match op {
        Op::Reply { reply_to, text } => {
            json!({"type": REPLY_TYPE, "reply_to": reply_to, "text": text})
        }
        Op::Reaction { target, emoji } => {
            json!({"type": REACTION_TYPE, "target": target, "emoji": emoji})
        }
        Op::Edit { target, text } => json!({"type": EDIT_TYPE, "target": target, "text": text}),
        Op::Delete { target } => json!({"type": DELETE_TYPE, "target": target}),
    };
    String::from_utf8(json::canonical_bytes(&v)).expect("JCS is UTF-8")
}

/// The sealed-message kind that carries `op`.
#[must_use]
pub fn kind_of(op: &Op) -> &'static str {
    match op {
        Op::Reply { .. } => "reply",
        Op::Reaction { .. } => "reaction",
        Op::Edit { .. } => "edit",
        Op::Delete { .. } => "delete",
    }
}

/// Whether an op of `kind` is silent (SPEC §8.5: `notify: false`, nostr
/// kind 4244, never acknowledged); `reply` travels like `text`.
#[must_use]
pub fn is_silent(kind: &str) -> bool {
    matches!(kind, "reaction" | "edit" | "delete")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "AAECAwQFBgcICQoLDA0ODw";

    #[test]
    fn built_bodies_parse_back() {
        for op in [
            Op::Reply {
                reply_to: ID.into(),
                text: "yes".into(),
            },
            Op::Reaction {
                target: ID.into(),
                emoji: "👍🏽".into(),
            },
            Op::Reaction {
                target: ID.into(),
                emoji: String::new(),
            },
            Op::Edit {
                target: ID.into(),
                text: "fixed".into(),
            },
            Op::Delete { target: ID.into() },
        ] {
            assert_eq!(parse_body(kind_of(&op), &body(&op)), Some(op.clone()));
            // The body of one kind is never another's.
            for k in OP_KINDS.iter().filter(|k| **k != kind_of(&op)) {
                assert_eq!(parse_body(k, &body(&op)), None, "{k}");
            }
        }
    }

    #[test]
    fn bounds_and_characters() {
        assert!(valid_emoji("👨‍👩‍👧"));
        assert!(valid_emoji(""));
        assert!(!valid_emoji("👍 "));
        assert!(!valid_emoji("\u{202E}👍"));
        assert!(!valid_emoji(&"👍".repeat(9)));
        for ok in [
            "👍🏽",
            "❤️",
            "🇫🇷",
            "1️⃣",
            "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}",
            "©️",
        ] {
            assert!(valid_emoji(ok), "{ok}");
        }
        for bad in [
            "LOL",
            "SCAM.COM",
            "a",
            "1",
            "🇫",
            "👍ok",
            "\u{200D}",
            "\u{FE0F}",
            "中",
            "👍\u{200B}",
        ] {
            assert!(!valid_emoji(bad), "{bad}");
        }
        assert!(!valid_text(""));
        assert!(valid_text(&"a".repeat(MAX_OP_TEXT_BYTES)));
        assert!(!valid_text(&"a".repeat(MAX_OP_TEXT_BYTES + 1)));
    }
}
