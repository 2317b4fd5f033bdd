//! The accepted event ids kept in the database as well as in memory, so a
//! restarted server does not push again for what its new subscriptions'
//! 60 s lookback re-delivers (SPEC §12, TODO #141). Written in batches
//! (once a second from the listener's tick, and at shutdown), so a
//! SIGKILL forgets at most the last second's ids: those may push twice.

use nostr_sdk::prelude::{Event, EventId};
use parking_lot::Mutex;

use super::check::{Dedupe, SEEN_CAPACITY};
use crate::store::Store;

/// How long an id is kept, by its `created_at` (seconds): a new
/// subscription looks back 60 s, and an event may be dated up to 5 min
/// ahead (it matches `since` for that long); 10 min covers both.
pub(super) const KEEP_SECS: i64 = 600;

/// Ids accepted since the last write, bounded by the dedupe's capacity
/// (beyond that the newest are not kept: they could push twice after a restart).
#[derive(Default)]
pub(super) struct Unsaved(Mutex<Vec<([u8; 32], i64)>>);

impl Unsaved {
    /// Notes an accepted `event` for the next [`Self::save`].
    pub(super) fn push(&self, event: &Event) {
        let mut ids = self.0.lock();
        if ids.len() < SEEN_CAPACITY {
            let created = i64::try_from(event.created_at.as_secs()).unwrap_or(i64::MAX);
            ids.push((event.id.to_bytes(), created));
        }
    }

    /// Writes what was noted, in one transaction, and forgets ids older
    /// than [`KEEP_SECS`]; on failure they are logged and dropped.
    pub(super) async fn save(&self, store: &Store, now: i64) {
        let ids = std::mem::take(&mut *self.0.lock());
        if ids.is_empty() {
            return;
        }
        if let Err(e) = store.remember_nostr_events(ids, now - KEEP_SECS).await {
            tracing::warn!(error.message = %e, "cannot store accepted nostr event ids");
        }
    }
}

/// Fills `seen` with the ids stored within [`KEEP_SECS`] of `now`;
/// returns how many (a read error is logged: the dedupe starts empty).
pub(super) async fn load(store: &Store, now: i64, seen: &Mutex<Dedupe>) -> usize {
    match store.recent_nostr_events(now - KEEP_SECS).await {
        Ok(ids) => {
            let mut seen = seen.lock();
            // Oldest first, so the dedupe's own order evicts the oldest.
            for id in ids.iter().rev() {
                seen.insert(EventId::from_byte_array(*id));
            }
            ids.len()
        }
        Err(e) => {
            tracing::warn!(error.message = %e, "cannot read stored nostr event ids");
            0
        }
    }
}
