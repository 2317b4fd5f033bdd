//! Claimed nostr event ids on PostgreSQL (as `store::nostr_seen`): the
//! listeners of every instance claim through one table, so an event is
//! pushed once between them.

use super::{Pg, big_len, refuse_full};
use crate::store::Result;

/// Most ids read back at start (as on SQLite).
const LOAD_LIMIT: usize = 16_384;

impl Pg {
    /// See `Store::claim_nostr_events`: one answer per id, true when this
    /// call claimed it first.
    pub(in crate::store) async fn claim_nostr_events(
        &self,
        ids: &[[u8; 32]],
        now: i64,
        forget_before: i64,
    ) -> Result<Vec<bool>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "DELETE FROM nostr_seen WHERE seen_at < $1",
            &[&forget_before],
        )
        .await?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO nostr_seen (id, seen_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .await?;
        let mut fresh = Vec::with_capacity(ids.len());
        for id in ids {
            let n = tx
                .execute(&insert, &[&&id[..], &now])
                .await
                .map_err(refuse_full)?;
            fresh.push(n == 1);
        }
        self.commit(tx).await?;
        Ok(fresh)
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
