//! Registered handles with their parsed keys, kept in memory so that an
//! authenticated request (a stream open, a poll: SPEC §7.2) neither waits
//! on the blocking pool for a lookup nor decodes the key's curve point
//! again (issue 14: about a fifth of a verification).
//!
//! A registration is final: this server never re-keys nor deletes a handle
//! (SPEC §3), so an entry stays true for the life of the process, on every
//! instance sharing the file. Only found handles are kept, since one not
//! found may be registered a moment later. Bounded by [`CAPACITY`]: when
//! full it starts over, and the next lookups refill it from the database.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::HandleRecord;
use crate::kez::Handle;

/// Most handles kept (each about 250 bytes with its parsed key).
pub(super) const CAPACITY: usize = 16_384;

/// Handle → its record with the parsed key.
#[derive(Default)]
pub(super) struct HandleCache {
    map: Mutex<HashMap<Handle, HandleRecord>>,
}

impl HandleCache {
    /// The cached record of `handle`, if any.
    pub(super) fn get(&self, handle: &Handle) -> Option<HandleRecord> {
        self.map.lock().get(handle).cloned()
    }

    /// Keeps `record` (read from the database), starting over when full.
    pub(super) fn insert(&self, record: &HandleRecord) {
        let mut map = self.map.lock();
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(record.handle.clone(), record.clone());
    }

    /// Handles kept now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, params};

    use super::CAPACITY;
    use crate::kez::Handle;
    use crate::store::Store;

    fn add_row(path: &std::path::Path, handle: &str) {
        Connection::open(path)
            .unwrap()
            .execute(
                "INSERT INTO handles VALUES (?1, ?2, 1, '{}')",
                params![handle, format!("ed25519:58{}", "66".repeat(31))],
            )
            .unwrap();
    }

    /// A lookup that found nothing is not kept (the handle may be registered
    /// next); one that found a handle answers from memory afterwards.
    #[tokio::test]
    async fn keeps_found_handles_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        let store = Store::open(&path).unwrap();
        let bob = Handle::parse("bob").unwrap();
        assert!(store.handle_by_name(bob.clone()).await.unwrap().is_none());
        add_row(&path, "bob");
        let found = store.handle_by_name(bob.clone()).await.unwrap().unwrap();
        assert_eq!(found.handle, bob);
        // Gone from the file (no code path does this): still answered, from memory.
        Connection::open(&path)
            .unwrap()
            .execute("DELETE FROM handles WHERE handle = 'bob'", [])
            .unwrap();
        let cached = store.handle_by_name(bob).await.unwrap().unwrap();
        assert_eq!(cached.primary, found.primary);
        store.close().await;
    }

    #[tokio::test]
    async fn stays_within_its_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cap.db")).unwrap();
        let record = |i: usize| crate::store::HandleRecord {
            handle: Handle::parse(&format!("user{i:05}")).unwrap(),
            primary: crate::kez::Identity::parse_stored(&format!("ed25519:58{}", "66".repeat(31)))
                .unwrap(),
            registered_at: 1,
        };
        for i in 0..=CAPACITY {
            store.inner.handle_cache.insert(&record(i));
        }
        assert!(store.inner.handle_cache.len() <= CAPACITY);
        store.close().await;
    }
}
