//! Event ids the nostr listener accepted lately (SPEC §12), kept across
//! restarts: a new subscription asks relays for the last 60 s again, and
//! what was already pushed for must not push twice (TODO #141).

use rusqlite::{Connection, params};

use super::{Result, Store};

/// Ids read back at start, newest first (the listener's dedupe holds 16,384).
const LOAD_LIMIT: usize = 16_384;

impl Store {
    /// Claims `ids` (event id, `created_at` in unix seconds) in one
    /// transaction: `true` for each id stored now, `false` for one stored
    /// before (by another instance on this database, or before a restart).
    /// Ids with `created_at` before `forget_before` (unix seconds) are
    /// deleted in the same transaction.
    pub async fn claim_nostr_events(
        &self,
        ids: Vec<([u8; 32], i64)>,
        forget_before: i64,
    ) -> Result<Vec<bool>> {
        self.write(move |conn| claim(conn, &ids, forget_before), |_| {})
            .await
    }

    /// The stored ids with `created_at` at or after `since` (unix
    /// seconds), newest first, at most [`LOAD_LIMIT`].
    pub async fn recent_nostr_events(&self, since: i64) -> Result<Vec<[u8; 32]>> {
        self.read(move |conn| recent(conn, since)).await
    }
}

fn claim(conn: &Connection, ids: &[([u8; 32], i64)], forget_before: i64) -> Result<Vec<bool>> {
    conn.prepare_cached("DELETE FROM nostr_seen WHERE created_at < ?1")?
        .execute(params![forget_before])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO nostr_seen (id, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    let mut fresh = Vec::with_capacity(ids.len());
    for (id, created_at) in ids {
        fresh.push(insert.execute(params![&id[..], created_at])? == 1);
    }
    Ok(fresh)
}

fn recent(conn: &Connection, since: i64) -> Result<Vec<[u8; 32]>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM nostr_seen WHERE created_at >= ?1 ORDER BY created_at DESC LIMIT ?2",
    )?;
    let limit = i64::try_from(LOAD_LIMIT).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![since, limit], |r| r.get::<_, Vec<u8>>(0))?;
    let mut out = Vec::new();
    for row in rows {
        // A row that is not 32 bytes was not written by this code: skipped.
        if let Ok(id) = <[u8; 32]>::try_from(row?.as_slice()) {
            out.push(id);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_id_is_claimed_once_kept_across_a_reopen_and_forgotten_when_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seen.db");
        let store = Store::open(&path).unwrap();
        let first = store.claim_nostr_events(vec![([1; 32], 100), ([2; 32], 200)], 0);
        assert_eq!(first.await.unwrap(), vec![true, true]);
        // A repeat is not claimed again, within a batch either; 150 forgets the first.
        let again =
            store.claim_nostr_events(vec![([2; 32], 200), ([3; 32], 300), ([3; 32], 300)], 150);
        assert_eq!(again.await.unwrap(), vec![false, true, false]);
        store.close().await;

        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.recent_nostr_events(0).await.unwrap(),
            vec![[3; 32], [2; 32]]
        );
        assert_eq!(store.recent_nostr_events(250).await.unwrap(), vec![[3; 32]]);
    }
}
