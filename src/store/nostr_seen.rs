//! Event ids the nostr listener accepted lately (SPEC §12), kept across
//! restarts: a new subscription asks relays for the last 60 s again, and
//! what was already pushed for must not push twice (TODO #141).

use rusqlite::{Connection, params};

use super::{Result, Store};

/// Ids read back at start, newest first (the listener's dedupe holds 16,384).
const LOAD_LIMIT: usize = 16_384;

impl Store {
    /// Stores `ids` (event id, `created_at` in unix seconds) in one
    /// transaction, repeats ignored, and deletes those with `created_at`
    /// before `forget_before` (unix seconds).
    pub async fn remember_nostr_events(
        &self,
        ids: Vec<([u8; 32], i64)>,
        forget_before: i64,
    ) -> Result<()> {
        self.write(move |conn| remember(conn, &ids, forget_before), |()| {})
            .await
    }

    /// The stored ids with `created_at` at or after `since` (unix
    /// seconds), newest first, at most [`LOAD_LIMIT`].
    pub async fn recent_nostr_events(&self, since: i64) -> Result<Vec<[u8; 32]>> {
        self.read(move |conn| recent(conn, since)).await
    }
}

fn remember(conn: &Connection, ids: &[([u8; 32], i64)], forget_before: i64) -> Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO nostr_seen (id, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    for (id, created_at) in ids {
        insert.execute(params![&id[..], created_at])?;
    }
    conn.prepare_cached("DELETE FROM nostr_seen WHERE created_at < ?1")?
        .execute(params![forget_before])?;
    Ok(())
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
    async fn ids_come_back_after_a_reopen_and_old_ones_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seen.db");
        let store = Store::open(&path).unwrap();
        store
            .remember_nostr_events(vec![([1; 32], 100), ([2; 32], 200)], 0)
            .await
            .unwrap();
        // A repeat is fine; 150 forgets the first.
        store
            .remember_nostr_events(vec![([2; 32], 200), ([3; 32], 300)], 150)
            .await
            .unwrap();
        store.close().await;

        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.recent_nostr_events(0).await.unwrap(),
            vec![[3; 32], [2; 32]]
        );
        assert_eq!(store.recent_nostr_events(250).await.unwrap(), vec![[3; 32]]);
    }
}
