//! The nostr listener (SPEC §12): with `--nostr-relays`, the server listens
//! on every relay for message events (kind 4243) routed to the `addr` of
//! any registered handle, and sends that handle one Web Push per new event
//! through the push service (which coalesces), so push keeps working for
//! chats that travel over nostr. Silent events (4244: acks, file chunks,
//! missing-chunk requests) are never subscribed to.
//!
//! Relays are not trusted: each event's id and signature are checked here,
//! then its kind, its `q` tag against the registered handles, its
//! `created_at` against the freshness window, and its id against a bounded
//! set of ids already pushed. No addr, handle or event id is logged.

mod check;
mod listener;
mod shards;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

pub use check::{Dedupe, Refusal, SEEN_CAPACITY, check_event};
pub use listener::NostrListener;
pub use shards::{MAX_VALUES_PER_SUBSCRIPTION, shard};

/// Counters of the listener, for `/metrics`; all monotonic except
/// `relays_connected`.
#[derive(Debug, Default)]
pub struct NostrStats {
    /// Events the relays delivered to us (first copy per id).
    pub received: AtomicU64,
    /// Events that caused a push.
    pub pushed: AtomicU64,
    /// Events already pushed (seen again, e.g. through another relay).
    pub duplicates: AtomicU64,
    /// Refused: bad id or signature.
    pub rejected_signature: AtomicU64,
    /// Refused: not kind 4243.
    pub rejected_kind: AtomicU64,
    /// Refused: no `q` value is the addr of a registered handle.
    pub rejected_unknown_addr: AtomicU64,
    /// Refused: `created_at` outside `[now − 48 h, now + 5 min]`.
    pub rejected_stale: AtomicU64,
    /// Notifications lost because the listener fell behind the pool's channel.
    pub lagged: AtomicU64,
    /// Times every shard was re-sent to a relay that reconnected or closed
    /// one of our subscriptions.
    pub resubscribed: AtomicU64,
    /// Relays connected now (a gauge).
    pub relays_connected: AtomicU64,
}

impl NostrStats {
    /// Bumps the counter of a refusal reason.
    pub fn refused(&self, why: Refusal) {
        let c = match why {
            Refusal::Signature => &self.rejected_signature,
            Refusal::Kind => &self.rejected_kind,
            Refusal::UnknownAddr => &self.rejected_unknown_addr,
            Refusal::Stale => &self.rejected_stale,
            Refusal::Duplicate => &self.duplicates,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// The listener's side held in `AppState` (with `--nostr-relays`): its
/// counters and the bell the registry rings after a registration, so the new
/// handle's addr is subscribed within about a second.
#[derive(Clone, Default)]
pub struct NostrHandle {
    /// The listener's counters.
    pub stats: Arc<NostrStats>,
    wake: Arc<Notify>,
}

impl NostrHandle {
    /// Asks the listener to re-read the registered handles now.
    pub fn handles_changed(&self) {
        self.wake.notify_one();
    }
}
