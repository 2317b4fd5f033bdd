//! Claimed nostr event ids on PostgreSQL (as `store::nostr_seen`): the
//! listeners of every instance claim through one table, so an event is
//! pushed once between them.

use std::collections::HashSet;

use super::{Pg, big_len, refuse_full, retrying};
use crate::store::Result;

/// Most ids read back at start (as on SQLite).
const LOAD_LIMIT: usize = 16_384;

impl Pg {
    /// See `Store::claim_nostr_events`: one answer per id, true when this
    /// call claimed it first. The ids go in one statement in sorted order,
    /// so two listeners claiming the same ids never wait on each other in
    /// a cycle (in arrival order they deadlocked, and the loser's whole
    /// batch went unclaimed: pushed twice).
    pub(in crate::store) async fn claim_nostr_events(
        &self,
        ids: &[[u8; 32]],
        now: i64,
        forget_before: i64,
    ) -> Result<Vec<bool>> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM nostr_seen WHERE seen_at < $1",
                &[&forget_before],
            )
            .await?;
        let mut sorted: Vec<&[u8]> = ids.iter().map(<[u8; 32]>::as_slice).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let claimed: HashSet<[u8; 32]> = retrying(|| async {
            let rows = client
                .query(
                    "INSERT INTO nostr_seen (id, seen_at)
                     SELECT id, $2 FROM unnest($1::BYTEA[]) AS id ORDER BY id
                     ON CONFLICT DO NOTHING RETURNING id",
                    &[&sorted, &now],
                )
                .await
                .map_err(refuse_full)?;
            Ok(rows
                .iter()
                .filter_map(|r| <[u8; 32]>::try_from(r.get::<_, &[u8]>(0)).ok())
                .collect())
        })
        .await?;
        self.wrote();
        // A repeated id is fresh the first time only, as on SQLite.
        let mut seen = HashSet::new();
        Ok(ids
            .iter()
            .map(|id| claimed.contains(id) && seen.insert(*id))
            .collect())
    }

    /// See `Store::recent_nostr_events`: newest first.
    pub(in crate::store) async fn recent_nostr_events(&self, since: i64) -> Result<Vec<[u8; 32]>> {
        let client = self.reader().await?;
        let rows = client
            .query(
                "SELECT id FROM nostr_seen WHERE seen_at >= $1 ORDER BY seen_at DESC LIMIT $2",
                &[&since, &big_len(LOAD_LIMIT)],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| <[u8; 32]>::try_from(r.get::<_, &[u8]>(0)).ok())
            .collect())
    }
}
