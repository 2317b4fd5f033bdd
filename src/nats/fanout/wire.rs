//! What goes over NATS (SPEC §11): per-recipient subjects, hashed so no
//! handle shows, and the JSON payload of a stored message.

use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::SUBJECT_PREFIX;
use crate::broker::Ephemeral;
use crate::store::{Seq, StoredMessage};

/// The NATS subject of `handle`'s inbox on the server `domain`:
/// `kez.chat.inbox.` + hex SHA-256 of `"kez.chat.inbox\n" + domain + "\n" + handle`,
/// with `domain` lowercased. Domain-separated so the same handle on two
/// servers sharing a NATS cluster gets two subjects.
pub fn inbox_subject(domain: &str, handle: &str) -> String {
    format!("{SUBJECT_PREFIX}{}", subject_token(domain, handle))
}

pub(super) fn subject_token(domain: &str, handle: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"kez.chat.inbox\n");
    h.update(domain.to_ascii_lowercase().as_bytes());
    h.update(b"\n");
    h.update(handle.as_bytes());
    hex::encode(h.finalize())
}

/// The payload of an inbox subject: a `StoredMessage` as JSON (SPEC §11).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireMessage {
    seq: Seq,
    id: String,
    envelope: Box<RawValue>,
    received_at: String,
}

pub(super) fn decode_message(payload: &[u8]) -> anyhow::Result<StoredMessage> {
    let w: WireMessage = serde_json::from_slice(payload)?;
    let received_at = chrono::DateTime::parse_from_rfc3339(&w.received_at)?.timestamp();
    if w.seq == Seq::ZERO || !crate::kez::valid_message_id(&w.id) {
        anyhow::bail!("invalid seq or id");
    }
    Ok(StoredMessage {
        seq: w.seq,
        id: w.id,
        envelope: w.envelope,
        received_at,
    })
}

/// The payload of an ephemeral post on an inbox subject (SPEC §11).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEphemeral {
    id: String,
    envelope: Box<RawValue>,
}

pub(super) fn decode_ephemeral(payload: &[u8]) -> anyhow::Result<Ephemeral> {
    let w: WireEphemeral = serde_json::from_slice(payload)?;
    let raw = w.envelope.get();
    if !crate::kez::valid_message_id(&w.id)
        || !raw.starts_with('{')
        || raw.len() > crate::messages::MAX_EPHEMERAL_ENVELOPE_BYTES
        || raw.contains('\r')
    {
        anyhow::bail!("invalid id or envelope");
    }
    Ok(Ephemeral {
        id: w.id,
        envelope: w.envelope,
    })
}
