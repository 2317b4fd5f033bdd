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

/// How long a claim is kept (seconds after it was made). The instances
/// that share a database get an event within seconds of each other, and a
/// new subscription asks for `created_at` ≥ now − 60 s of events dated at
/// most 5 min ahead: 10 min covers both.
pub(super) const KEEP_SECS: i64 = 600;
/// Claims waiting for the database; beyond this an event pushes unclaimed
/// (another instance may push for it too, as before claims).
pub(super) const QUEUE: usize = 4096;
/// Most claims written in one transaction.
const BATCH: usize = 512;

/// An event that passed every check and its handle's budget, to be
/// claimed, then pushed for.
pub(super) struct Claim {
    pub id: EventId,
    pub handle: Handle,
}

/// What became of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Ours: push.
    Won,
    /// Claimed before, by another instance or before a restart: no push.
    Taken,
    /// Not written (a database error): pushed anyway, a push too many
    /// beating none.
    Unclaimed,
}

/// Claims what arrives on `rx`, in batches (one transaction each), and
/// hands each claim with its outcome to `settle`, until `rx` is closed and
/// drained. `now` gives unix seconds.
pub(super) async fn run(
    store: &Store,
    mut rx: mpsc::Receiver<Claim>,
    now: impl Fn() -> i64,
    settle: impl Fn(&Handle, Outcome),
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let ids = batch.iter().map(|c| c.id.to_bytes()).collect();
        let t = now();
        let outcomes = match store.claim_nostr_events(ids, t, t - KEEP_SECS).await {
            Ok(fresh) => fresh
                .into_iter()
                .map(|f| if f { Outcome::Won } else { Outcome::Taken })
                .collect(),
            Err(e) => {
                tracing::warn!(error.message = %e, "cannot claim nostr events; pushing unclaimed");
                vec![Outcome::Unclaimed; batch.len()]
            }
        };
        for (claim, outcome) in batch.drain(..).zip(outcomes) {
            settle(&claim.handle, outcome);
        }
    }
}

/// Fills `seen` with the ids claimed within [`KEEP_SECS`] of `now`;
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
            tracing::warn!(error.message = %e, "cannot read claimed nostr event ids");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(n: u8) -> Claim {
        Claim {
            id: EventId::from_byte_array([n; 32]),
            handle: Handle::parse("bob").unwrap(),
        }
    }

    /// Runs the claimer over `claims` sent before the sender is dropped.
    async fn settle_all(store: &Store, claims: Vec<Claim>) -> Vec<Outcome> {
        let (tx, rx) = mpsc::channel(QUEUE);
        for c in claims {
            tx.try_send(c).unwrap();
        }
        drop(tx);
        let seen = Mutex::new(Vec::new());
        run(store, rx, || 1_000, |_, o| seen.lock().push(o)).await;
        seen.into_inner()
    }

    #[tokio::test]
    async fn what_was_queued_is_settled_after_the_sender_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).unwrap();
        let got = settle_all(&store, vec![claim(1), claim(2), claim(1)]).await;
        assert_eq!(got, [Outcome::Won, Outcome::Won, Outcome::Taken]);
    }

    #[tokio::test]
    async fn a_database_that_fails_settles_every_claim_unclaimed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).unwrap();
        store.close().await;
        let got = settle_all(&store, vec![claim(1), claim(2)]).await;
        assert_eq!(got, [Outcome::Unclaimed, Outcome::Unclaimed]);
    }
}
