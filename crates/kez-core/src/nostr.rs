//! The nostr transport's constants and routing address (SPEC §12).
//! Minimal: the fuller module (vectors, key derivation) replaces it.

use sha2::{Digest, Sha256};

use crate::Identity;

/// The kind of a message event.
pub const KIND_MESSAGE: u16 = 4243;
/// The kind of an ack event (never pushed).
pub const KIND_ACK: u16 = 4244;
/// Events dated more than this many seconds ahead are refused.
pub const MAX_FUTURE_SECS: i64 = 300;
/// Events older than this many seconds (48 h, the retention) are refused.
pub const LOOKBACK_SECS: i64 = 172_800;

/// The routing address of a primary: lowercase hex of
/// `SHA-256(UTF-8("kez.chat.nostr.addr.v1\n" + primary))`, primary as
/// `ed25519:<64 lowercase hex>`; 64 chars, the value of the `q` tag.
#[must_use]
pub fn addr(primary: &Identity) -> String {
    let mut h = Sha256::new();
    h.update(b"kez.chat.nostr.addr.v1\n");
    h.update(primary.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Whether `created_at` (Unix seconds) is within
/// `[now - LOOKBACK_SECS, now + MAX_FUTURE_SECS]`.
#[must_use]
pub fn is_fresh(created_at: i64, now: i64) -> bool {
    created_at <= now.saturating_add(MAX_FUTURE_SECS)
        && created_at >= now.saturating_sub(LOOKBACK_SECS)
}
