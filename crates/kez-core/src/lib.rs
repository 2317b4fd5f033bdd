//! The KEZ core: the identity layer shared by every signed thing kez-chat
//! handles. Identities, strict JSON, JCS canonicalisation, Ed25519 signed
//! envelopes, handles and the request-auth signed strings (SPEC §1-§4, §7.2,
//! §10.2), the nostr routing address and event rules (SPEC §12), attachment
//! bodies (SPEC §13), message operations (SPEC §8.5) and profile documents (SPEC §14), plus
//! envelope v2 (SPEC §8) and visual encryption (SPEC §14.2-§14.3) behind the
//! `envelope` feature and nostr key
//! derivation and event signing behind `nostr-keys`.
//!
//! Pure: no I/O, no async, no HTTP. The dependencies keep it so (no tokio,
//! no HTTP or database client; the optional `rusqlite` feature only adds
//! `ToSql`/`FromSql` conversions and opens no database); `std::fs` and
//! `std::net` stay reachable, so reviews still check for them.
#![warn(missing_docs)]

pub mod auth;
#[cfg(feature = "envelope")]
pub mod envelope;
pub mod file;
pub mod handle;
pub mod identity;
pub mod json;
pub mod live;
pub mod nostr;
pub mod ops;
pub mod profile;
#[cfg(feature = "envelope")]
pub mod sent;
pub mod sigchain;
pub mod signed;
#[cfg(feature = "rusqlite")]
mod sql;
pub mod sync;
pub mod text;
pub mod time;
#[cfg(feature = "envelope")]
pub mod visual;

pub use handle::Handle;
pub use identity::{Identity, SignatureHex};

/// Message ids are 16-64 chars of `A-Za-z0-9_-` (SPEC §7.1): safe in URLs,
/// SSE fields and comma-separated ack bodies.
#[must_use]
pub fn valid_message_id(id: &str) -> bool {
    (16..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
