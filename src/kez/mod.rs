//! The KEZ identity layer shared by every signed thing the server handles:
//! identities, strict JSON, JCS canonicalisation, Ed25519 envelopes, handles
//! and request-auth signed strings. Pure functions only; no I/O.

pub mod auth;
pub mod envelope;
pub mod handle;
pub mod identity;
pub mod json;
pub mod signed;

pub use handle::Handle;
pub use identity::{Identity, SignatureHex};

/// Message ids are 16-64 chars of `A-Za-z0-9_-` (SPEC §7.1): safe in URLs,
/// SSE fields and comma-separated ack bodies.
pub fn valid_message_id(id: &str) -> bool {
    (16..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
