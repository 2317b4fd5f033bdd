//! What every integration test shares: the in-process server (`spawn_app`)
//! and a typed client for it, the real binary as a child process, identities
//! that sign like a client, bounded waits, and the stand-in push service.

mod app;
mod binary;
pub mod fault_relay;
mod identity;
pub mod nostr_relay;
mod pg_certs;
pub mod postgres;
pub mod proof_stand;
pub mod push_service;
mod raw;
mod wait;

pub use app::*;
pub use binary::*;
pub use identity::*;
pub use raw::*;
pub use wait::*;
