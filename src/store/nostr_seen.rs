//! Nostr event ids claimed by the listeners (SPEC §12): of the instances
//! sharing this database, and of a server and its restarted self, only the
//! one whose insert of an id succeeds pushes for it (TODO #141).

use rusqlite::{Connection, params};

use super::{Result, Store};

/// Ids read back at start, newest first (the size of the listener's
/// in-memory dedupe, `nostr::SEEN_CAPACITY`; the store does not depend on it).
const LOAD_LIMIT: usize = 16_384;

impl Store {
    /// Claims `ids` (32-byte event ids) at `now` (unix seconds) in one
    /// transaction: `true` for each id stored now, `false` for one claimed
    /// before (by another instance on this database, or before a restart,
    /// or earlier in `ids`). Claims made before `forget_before` (unix
    /// seconds) are deleted in the same transaction.
    pub async fn claim_nostr_events(
        &self,
        ids: Vec<[u8; 32]>,
        now: i64,
        forget_before: i64,
    ) -> Result<Vec<bool>> {
        if let Some(pg) = self.pg() {
            return pg.claim_nostr_events(&ids, now, forget_before).await;
        }
        self.write(move |conn| claim(conn, &ids, now, forget_before), |_| {})
            .await
    }

    /// The ids claimed at or after `since` (unix seconds), newest first, at
    /// most 16,384.
    pub async fn recent_nostr_events(&self, since: i64) -> Result<Vec<[u8; 32]>> {
        if let Some(pg) = self.pg() {
            return pg.recent_nostr_events(since).await;
        }
        self.read(move |conn| recent(conn, since)).await
    }
}

fn claim(conn: &Connection, ids: &[[u8; 32]], now: i64, forget_before: i64) -> Result<Vec<bool>> {
    conn.prepare_cached("DELETE FROM nostr_seen WHERE seen_at < ?1")?
        .execute(params![forget_before])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO nostr_seen (id, seen_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    let mut fresh = Vec::with_capacity(ids.len());
    for id in ids {
        fresh.push(insert.execute(params![&id[..], now])? == 1);
    }
    Ok(fresh)
}

fn recent(conn: &Connection, since: i64) -> Result<Vec<[u8; 32]>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM nostr_seen WHERE seen_at >= ?1 ORDER BY seen_at DESC LIMIT ?2",
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
        let claim = |ids: Vec<[u8; 32]>, now, forget| store.claim_nostr_events(ids, now, forget);
        assert_eq!(claim(vec![[1; 32]], 100, 0).await.unwrap(), vec![true]);
        assert_eq!(claim(vec![[2; 32]], 150, 0).await.unwrap(), vec![true]);
        // A repeat is not claimed again, within a batch either.
        let again = claim(vec![[2; 32], [3; 32], [3; 32]], 200, 0)
            .await
            .unwrap();
        assert_eq!(again, vec![false, true, false]);
        store.close().await;

        let store = Store::open(&path).unwrap();
        let recent = |since| store.recent_nostr_events(since);
        assert_eq!(recent(0).await.unwrap(), vec![[3; 32], [2; 32], [1; 32]]);
        assert_eq!(recent(150).await.unwrap(), vec![[3; 32], [2; 32]]);
        // Claims before 160 are forgotten: the first id can be claimed again.
        let later = store.claim_nostr_events(vec![[4; 32], [1; 32]], 300, 160);
        assert_eq!(later.await.unwrap(), vec![true, true]);
        let mut now_claimed = recent(250).await.unwrap();
        now_claimed.sort_unstable();
        assert_eq!(now_claimed, vec![[1; 32], [4; 32]]);
        assert_eq!(recent(0).await.unwrap().len(), 3, "[2; 32] is gone");
    }
}
