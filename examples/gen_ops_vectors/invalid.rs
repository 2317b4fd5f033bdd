//! The bodies `ops::parse_body` must refuse (`malformed_message`), each
//! named for what is wrong with it.

use kez_chat_server::kez::ops::{self, MAX_OP_TEXT_BYTES, Op};
use serde_json::{Value, json};

use super::{ID, case, jcs};

pub(crate) fn invalid() -> Vec<Value> {
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
