//! Accepted event ids claimed in the database before any push (SPEC §12,
//! TODO #141): of the instances sharing one database (§11), and of a
//! server and its restarted self (its new subscriptions look back 60 s),
//! only the one whose insert of an id succeeds pushes for it. The in-memory
//! dedupe still drops the repeats one instance sees, without a write.

use nostr_sdk::prelude::EventId;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::check::Dedupe;
use crate::kez::Handle;
use crate::store::Store;

/// How long an id is kept, by its `created_at` (seconds): a new
/// subscription looks back 60 s, and an event may be dated up to 5 min
/// ahead (it matches `since` for that long); 10 min covers both.
pub(super) const KEEP_SECS: i64 = 600;
/// Claims waiting for the database; beyond this an event pushes unclaimed
/// (another instance may push for it too, as before claims).
pub(super) const QUEUE: usize = 4096;
/// Most claims written in one transaction.
const BATCH: usize = 512;

/// An event that passed every check, to be claimed, then pushed for.
pub(super) struct Claim {
    pub id: EventId,
    /// The event's `created_at`, unix seconds.
    pub created_at: i64,
    pub handle: Handle,
}

/// What became of a claim.
#[derive(Debug, Clone, Copy)]
pub(super) enum Outcome {
    /// Ours: push (budget allowing).
    Won,
    /// Stored before, by another instance or before a restart: no push.
    Taken,
}

/// Claims what arrives on `rx`, in batches (one transaction each), and
/// hands each claim with its outcome to `settle`, until `rx` is closed and
/// drained. A database error settles the batch as won: a push too many
/// beats none.
pub(super) async fn run(
    store: &Store,
    mut rx: mpsc::Receiver<Claim>,
    now: impl Fn() -> i64,
    settle: impl Fn(&Handle, Outcome),
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let ids = batch
            .iter()
            .map(|c| (c.id.to_bytes(), c.created_at))
            .collect();
        let fresh = match store.claim_nostr_events(ids, now() - KEEP_SECS).await {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::warn!(error.message = %e, "cannot claim nostr events; pushing unclaimed");
                vec![true; batch.len()]
            }
        };
        for (claim, fresh) in batch.drain(..).zip(fresh) {
            let outcome = if fresh { Outcome::Won } else { Outcome::Taken };
            settle(&claim.handle, outcome);
        }
    }
}

/// Fills `seen` with the ids stored within [`KEEP_SECS`] of `now`;
/// returns how many (a read error is logged: the dedupe starts empty and
/// the claims still stop a second push).
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
