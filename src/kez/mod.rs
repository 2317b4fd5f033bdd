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
