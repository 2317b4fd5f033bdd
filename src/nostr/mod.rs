//! The nostr listener (SPEC §12): with `--nostr-relays`, the server listens
//! on every relay for message events (kind 4243) routed to the `addr` of
//! any registered handle, and sends that handle one Web Push per new event
//! through the push service (which coalesces), so push keeps working for
//! chats that travel over nostr. Silent events (4244: acks, file chunks,
//! missing-chunk requests) are never subscribed to.
//!
//! Relays are not trusted: every event is checked here,
//! in SPEC §12's order (kind, first `q` tag, `created_at` against the
//! freshness window, id, signature), then the addr against the registered
//! handles, the content's envelope v2 shape, its id against a bounded set of
//! ids already accepted (kept across listener restarts), a claim of the id
//! in the database (one push per event across restarts and across the
//! instances sharing it, `claims`), and a per-handle push budget. No addr,
//! handle or event id is logged.

mod check;
mod claims;
mod listener;
mod nodb;
mod relays;
mod shards;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

pub use check::{Dedupe, Refusal, SEEN_CAPACITY, check_event, is_envelope_shape};
pub use listener::{NOTIFICATION_CHANNEL_SIZE, NostrListener};
pub use shards::{MAX_VALUES_PER_SUBSCRIPTION, shard};

/// Counters of the listener, for `/metrics`; all monotonic except
/// `relays_connected`. The pushes nostr caused that were actually sent or
/// dropped are counted by the push service (`PushStats::nostr_*`).
#[derive(Debug, Default)]
pub struct NostrStats {
    /// Events the relays delivered to us (every copy).
    pub received: AtomicU64,
    /// Events that passed every check and the budget and were not claimed
    /// by another instance first: handed to the push service, which
    /// coalesces them and sends only to handles with a subscription.
    pub accepted: AtomicU64,
    /// Events already accepted (seen again: another relay, a lookback, a
    /// restart), or claimed by another instance on the database.
    pub duplicates: AtomicU64,
    /// Accepted events pushed without a claim (the claim queue was full or
    /// the database failed): another instance may push for them too.
    pub unclaimed: AtomicU64,
    /// Refused `wrong_kind`: not kind 4243.
    pub rejected_wrong_kind: AtomicU64,
    /// Refused `bad_route`: no first `q` of 64 lowercase hex.
    pub rejected_bad_route: AtomicU64,
    /// Refused `future`: dated more than 5 min ahead.
    pub rejected_future: AtomicU64,
    /// Refused `stale`: dated more than 48 h ago.
    pub rejected_stale: AtomicU64,
    /// Refused `bad_id`. nostr-sdk drops such events before us: defence in depth.
    pub rejected_bad_id: AtomicU64,
    /// Refused `bad_signature`. nostr-sdk drops such events before us too.
    pub rejected_bad_signature: AtomicU64,
    /// Ignored: the first `q` is the addr of no registered handle.
    pub rejected_unknown_addr: AtomicU64,
    /// Refused: `content` is not an envelope v2 object (§8 outer shape).
    pub rejected_not_envelope: AtomicU64,
    /// Valid events over their handle's push budget (`--nostr-push-per-minute`).
    pub over_budget: AtomicU64,
    /// Notifications lost because the listener fell behind the pool's channel.
    pub lagged: AtomicU64,
    /// Times every shard was sent again with a fresh lookback after a lag,
    /// so the relays deliver what was lost.
    pub refetched: AtomicU64,
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
            Refusal::WrongKind => &self.rejected_wrong_kind,
            Refusal::BadRoute => &self.rejected_bad_route,
            Refusal::Future => &self.rejected_future,
            Refusal::Stale => &self.rejected_stale,
            Refusal::BadId => &self.rejected_bad_id,
            Refusal::BadSignature => &self.rejected_bad_signature,
            Refusal::UnknownAddr => &self.rejected_unknown_addr,
            Refusal::NotEnvelope => &self.rejected_not_envelope,
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
