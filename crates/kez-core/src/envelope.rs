//! Envelope v2 (SPEC §8): end-to-end encryption of chat messages.
//!
//! The server never needs this to relay messages (envelopes are opaque to
//! it); it lives in the KEZ core so Rust tools, bots and tests speak the same
//! bytes as the web client, proven by `tests/vectors/envelope-v2.json`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::identity::{Identity, SignatureHex, parse_lower_hex};
use super::json;
pub use super::time::strict_utc_seconds;

mod sealbox;
pub(crate) use sealbox::{open_bytes, seal_bytes};

/// Domain-separation label used as HKDF info and AAD prefix.
pub const CONTEXT: &str = "kez.chat.envelope.v2";
/// Prefix of the string an ack signature covers.
pub const ACK_CONTEXT: &str = "kez.chat.ack.v1";
/// Most message ids one ack may confirm.
pub const MAX_ACK_IDS: usize = 100;
/// Messages older than this are refused (seconds).
pub const MAX_AGE_SECS: i64 = 7 * 24 * 3600;
/// Messages dated further ahead than this are refused (seconds).
pub const MAX_AHEAD_SECS: i64 = 300;

/// Why an envelope was refused; the codes match the web client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// `not_v2`
    #[error("not a v2 envelope")]
    NotV2,
    /// `malformed_envelope`
    #[error("epk, nonce or ct is malformed")]
    MalformedEnvelope,
    /// `decrypt_failed`
    #[error("decryption failed")]
    DecryptFailed,
    /// `malformed_message`
    #[error("the decrypted message does not have the v2 shape")]
    MalformedMessage,
    /// `wrong_recipient`
    #[error("the message is for someone else")]
    WrongRecipient,
    /// `bad_signature`
    #[error("the sender's signature does not verify")]
    BadSignature,
    /// `bad_ack_signature`
    #[error("the ack signature does not verify")]
    BadAckSignature,
    /// `stale_sent_at`
    #[error("the message is more than 7 days old")]
    StaleSentAt,
    /// `future_sent_at`
    #[error("the message is dated more than 5 minutes ahead")]
    FutureSentAt,
    /// `replay`
    #[error("the message id was already seen")]
    Replay,
}

impl OpenError {
    /// The stable code shared with the web client and the vectors.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotV2 => "not_v2",
            Self::MalformedEnvelope => "malformed_envelope",
            Self::DecryptFailed => "decrypt_failed",
            Self::MalformedMessage => "malformed_message",
            Self::WrongRecipient => "wrong_recipient",
            Self::BadSignature => "bad_signature",
            Self::BadAckSignature => "bad_ack_signature",
            Self::StaleSentAt => "stale_sent_at",
            Self::FutureSentAt => "future_sent_at",
            Self::Replay => "replay",
        }
    }
}

/// A sealed message after decryption and every check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenedMessage {
    #[serde(rename = "type")]
    kind_tag: String,
    version: u64,
    /// `text`, `ack`, an attachment kind (`file`, `chunk`, `need`: read
    /// `body` with [`crate::file::parse_body`], SPEC §13), a message
    /// operation (`reply`, `reaction`, `edit`, `delete`: read `body` with
    /// [`crate::ops::parse_body`], SPEC §8.5) or `sent` (a
    /// self-copy: read `body` with [`crate::sent::parse`], SPEC §8.3).
    pub kind: String,
    /// The client message id.
    pub id: String,
    /// Sender primary.
    pub from: String,
    /// Sender's claimed `handle@server` (verify with the directory before showing).
    pub from_handle: String,
    /// Recipient primary.
    pub to: String,
    /// RFC 3339 send time.
    pub sent_at: String,
    /// The text, or for an ack the acknowledged ids joined by commas
    /// (see [`ack_ids`]).
    pub body: String,
    /// Checked on the JSON value (see `signed_by`); kept for the exact field set.
    #[serde(rename = "sig")]
    _sig: String,
    /// For acks: signature over `kez.chat.ack.v1\n<body>`.
    #[serde(default)]
    pub ack_sig: Option<String>,
}

/// Signs the fields of a sealed message (everything but `sig`) with `sender`
/// and returns the complete sealed message.
pub fn sign_message(sender: &SigningKey, mut fields: Map<String, Value>) -> Value {
    fields.remove("sig");
    let unsigned = Value::Object(fields);
    let sig = hex::encode(sender.sign(&json::canonical_bytes(&unsigned)).to_bytes());
    let Value::Object(mut signed) = unsigned else {
        unreachable!("built from a map")
    };
    signed.insert("sig".to_owned(), Value::String(sig));
    Value::Object(signed)
}

/// The ack signature over an ack's body (the acknowledged ids joined by
/// commas), so a receipt stays unforgeable even copied out of its envelope.
pub fn sign_ack(sender: &SigningKey, body: &str) -> String {
    hex::encode(sender.sign(ack_string(body).as_bytes()).to_bytes())
}

fn ack_string(body: &str) -> String {
    format!("{ACK_CONTEXT}\n{body}")
}

/// The ids an ack body confirms: 1 to [`MAX_ACK_IDS`] distinct message ids
/// separated by single commas, or `None`.
pub fn ack_ids(body: &str) -> Option<Vec<&str>> {
    let ids: Vec<&str> = body.split(',').collect();
    let mut unique = std::collections::HashSet::with_capacity(ids.len());
    let ok = ids.len() <= MAX_ACK_IDS
        && ids
            .iter()
            .all(|id| super::valid_message_id(id) && unique.insert(*id));
    ok.then_some(ids)
}

/// Seals a signed message to `recipient` with a fresh ephemeral key and nonce.
pub fn seal(message: &Value, recipient: &Identity) -> Value {
    let mut eph = [0u8; 32];
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut eph).expect("the OS random number generator is unavailable");
    getrandom::fill(&mut nonce).expect("the OS random number generator is unavailable");
    seal_with(message, recipient, eph, nonce).expect("a random ephemeral key is contributory")
}

/// Deterministic sealing for test vectors: caller supplies the ephemeral secret and nonce.
pub fn seal_with(
    message: &Value,
    recipient: &Identity,
    ephemeral_secret: [u8; 32],
    nonce: [u8; 12],
) -> Result<Value, OpenError> {
    let (epk, ct) = seal_bytes(
        CONTEXT,
        &json::canonical_bytes(message),
        recipient,
        ephemeral_secret,
        nonce,
    )?;
    Ok(json!({
        "v": 2,
        "epk": hex::encode(epk),
        "nonce": hex::encode(nonce),
        "ct": URL_SAFE_NO_PAD.encode(ct),
    }))
}

/// Decrypts and checks an envelope for the holder of `seed`, at `now`.
/// `seen` answers whether a message id was already accepted.
pub fn open(
    envelope: &Value,
    seed: &[u8; 32],
    now: DateTime<Utc>,
    seen: impl Fn(&str) -> bool,
) -> Result<OpenedMessage, OpenError> {
    let obj = envelope.as_object().ok_or(OpenError::NotV2)?;
    if obj.get("v").and_then(Value::as_u64) != Some(2) {
        return Err(OpenError::NotV2);
    }
    let field = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .ok_or(OpenError::MalformedEnvelope)
    };
    let epk = parse_lower_hex::<32>(field("epk")?).ok_or(OpenError::MalformedEnvelope)?;
    let nonce = parse_lower_hex::<12>(field("nonce")?).ok_or(OpenError::MalformedEnvelope)?;
    let ct = URL_SAFE_NO_PAD
        .decode(field("ct")?)
        .map_err(|_| OpenError::MalformedEnvelope)?;
    if ct.len() < 16 {
        return Err(OpenError::MalformedEnvelope);
    }

    let me = SigningKey::from_bytes(seed);
    let my_primary = Identity::from_bytes(me.verifying_key().as_bytes())
        .map_err(|_| OpenError::DecryptFailed)?
        .to_string();
    let plaintext = open_bytes(CONTEXT, epk, nonce, &ct, seed)?;

    let value = json::parse_strict(&plaintext).map_err(|_| OpenError::MalformedMessage)?;
    // Exactly the JCS of the message it holds, so no two JSON parsers can
    // read it differently (duplicate keys, 2.0, escapes, whitespace): the web
    // client applies the same rule.
    if json::canonical_bytes(&value) != plaintext {
        return Err(OpenError::MalformedMessage);
    }
    let (msg, from) = message_shape(&value)?;
    // A self-copy (SPEC §8.3): its body holds the original, checked whole.
    let copy = match msg.kind.as_str() {
        "sent" => Some(super::sent::parse(&msg).ok_or(OpenError::MalformedMessage)?),
        _ => None,
    };
    if msg.to != my_primary {
        return Err(OpenError::WrongRecipient);
    }
    if !signed_by(&value, &from) {
        return Err(OpenError::BadSignature);
    }
    if copy.is_some_and(|c| !signed_by(&c.message, &from)) {
        return Err(OpenError::BadSignature);
    }
    if let Some(ack_sig) = &msg.ack_sig {
        let ok = SignatureHex::parse(ack_sig)
            .is_some_and(|s| from.verify(ack_string(&msg.body).as_bytes(), &s));
        if !ok {
            return Err(OpenError::BadAckSignature);
        }
    }
    let Some(sent_at) = strict_utc_seconds(&msg.sent_at) else {
        return Err(OpenError::MalformedMessage);
    };
    let age = (now - sent_at).num_seconds();
    if age > MAX_AGE_SECS {
        return Err(OpenError::StaleSentAt);
    }
    if -age > MAX_AHEAD_SECS {
        return Err(OpenError::FutureSentAt);
    }
    if seen(&msg.id) {
        return Err(OpenError::Replay);
    }
    Ok(msg)
}

/// The SPEC §8 `malformed_message` rules on a parsed sealed message (also
/// the original inside a self-copy, SPEC §8.3): the exact field set, `kind`
/// and its body, `id`, `sent_at` and `from`. The `sent` body is checked by
/// the caller ([`super::sent::parse`]).
pub(crate) fn message_shape(value: &Value) -> Result<(OpenedMessage, Identity), OpenError> {
    let msg: OpenedMessage =
        serde_json::from_value(value.clone()).map_err(|_| OpenError::MalformedMessage)?;
    // By key, not by value: `"ack_sig": null` on a text is still the field.
    let has_ack_sig = value.get("ack_sig").is_some();
    let shape_ok = msg.kind_tag == "kez.chat.message"
        && msg.version == 2
        && super::valid_message_id(&msg.id)
        && strict_utc_seconds(&msg.sent_at).is_some()
        && match msg.kind.as_str() {
            "text" | "sent" => !has_ack_sig,
            "ack" => msg.ack_sig.is_some() && ack_ids(&msg.body).is_some(),
            // SPEC §8.6: ephemeral signals, no `ack_sig`.
            "read" => !has_ack_sig && ack_ids(&msg.body).is_some(),
            "typing" => !has_ack_sig && super::live::parse_typing(&msg.body).is_some(),
            // SPEC §8.7: a snapshot the identity sends itself.
            "sync" => {
                !has_ack_sig && msg.from == msg.to && super::sync::parse_body(&msg.body).is_some()
            }
            "file" | "chunk" | "need" => {
                !has_ack_sig && super::file::parse_body(&msg.kind, &msg.body).is_some()
            }
            "reply" | "reaction" | "edit" | "delete" => {
                !has_ack_sig && super::ops::parse_body(&msg.kind, &msg.body).is_some()
            }
            _ => false,
        };
    let Ok(from) = Identity::parse(&msg.from) else {
        return Err(OpenError::MalformedMessage);
    };
    if !shape_ok {
        return Err(OpenError::MalformedMessage);
    }
    Ok((msg, from))
}

/// Whether `sig` verifies strictly against `from` over the JCS of `message`
/// without `sig` (SPEC §8).
fn signed_by(message: &Value, from: &Identity) -> bool {
    let Some(sig) = message
        .get("sig")
        .and_then(Value::as_str)
        .and_then(SignatureHex::parse)
    else {
        return false;
    };
    let mut unsigned = message.clone();
    if let Some(o) = unsigned.as_object_mut() {
        o.remove("sig");
    }
    from.verify(&json::canonical_bytes(&unsigned), &sig)
}
