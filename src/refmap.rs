//! A map whose entries live exactly as long as someone holds them, and the
//! crate's one locking rule.
//!
//! # Locking rule
//!
//! Shared state behind a lock in `src/` uses [`parking_lot::Mutex`]: it
//! cannot be poisoned, so a panic in one request never leaves a lock that
//! later callers must either recover (`PoisonError::into_inner`) or skip
//! (`let Ok(..) = lock() else return`), and every site reads the same:
//! `.lock()`. Nothing is awaited while such a lock is held (clippy's
//! `await_holding_lock` warns); the only lock held across `.await` is a
//! `tokio::sync::Mutex` handing a background worker's queue from one run
//! to the next (`server::supervise_workers`), which cannot be poisoned either.
//!
//! Per-key bookkeeping that must disappear when its last user leaves (live
//! channels per recipient, connections per address, NATS subjects with a
//! local subscriber) goes through [`RefCountedMap`] rather than another
//! hand-written map-and-`Drop`-guard pair.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use parking_lot::Mutex;

/// A shared map of reference-counted entries: [`acquire`](Self::acquire)
/// creates an entry or joins an existing one, and the entry is removed when
/// the last [`RefGuard`] for its key is dropped. Cheap to clone (clones
/// share the map).
pub struct RefCountedMap<K, V> {
    entries: Arc<Mutex<HashMap<K, Entry<V>>>>,
}

struct Entry<V> {
    value: V,
    refs: usize,
}

/// One holder of an entry; dropping the last one for a key removes it.
/// Holds a clone of the entry's value, readable without the lock.
#[must_use = "the entry is released as soon as its guard is dropped"]
pub struct RefGuard<K: Hash + Eq, V> {
    entries: Arc<Mutex<HashMap<K, Entry<V>>>>,
    key: K,
    value: V,
}

impl<K, V> Clone for RefCountedMap<K, V> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
        }
    }
}

impl<K, V> Default for RefCountedMap<K, V> {
    fn default() -> Self {
        Self {
            entries: Arc::default(),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> RefCountedMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Holds `key`'s entry, creating it with `make` when nobody holds it yet.
    pub fn acquire(&self, key: K, make: impl FnOnce() -> V) -> RefGuard<K, V> {
        self.acquire_within(key, usize::MAX, make)
            .expect("usize::MAX holders of one entry")
    }

    /// Like [`acquire`](Self::acquire), but `None` when `key` already has
    /// `max_refs` holders (a per-key cap, checked and taken under one lock).
    pub fn acquire_within(
        &self,
        key: K,
        max_refs: usize,
        make: impl FnOnce() -> V,
    ) -> Option<RefGuard<K, V>> {
        let mut entries = self.entries.lock();
        let entry = entries.entry(key.clone()).or_insert_with(|| Entry {
            value: make(),
            refs: 0,
        });
        if entry.refs >= max_refs {
            // A cap of 0 must not leave an entry nobody holds behind.
            if entry.refs == 0 {
                entries.remove(&key);
            }
            return None;
        }
        entry.refs += 1;
        let value = entry.value.clone();
        drop(entries);
        Some(RefGuard {
            entries: self.entries.clone(),
            key,
            value,
        })
    }

    /// A clone of `key`'s value, while anyone holds it.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.lock().get(key).map(|e| e.value.clone())
    }

    /// A clone of every held entry's value (a snapshot: entries may come
    /// and go right after).
    pub fn values(&self) -> Vec<V> {
        self.entries
            .lock()
            .values()
            .map(|e| e.value.clone())
            .collect()
    }

    /// How many guards hold `key` (0 when it has no entry).
    pub fn holders<Q>(&self, key: &Q) -> usize
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.lock().get(key).map_or(0, |e| e.refs)
    }

    /// Number of keys held by at least one guard.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Entries a map keeps room for however empty it gets.
const MIN_ROOM: usize = 64;

/// Gives a map's table back once it is at most a quarter full: hashbrown
/// never shrinks by itself, so the entries of 10k streams kept their
/// tables (~3 MB across the broker, the stream registry and the push
/// coalescer) after the streams closed (issue 14, TODO #206). Shrinking to
/// twice the length keeps removals amortized O(1).
pub fn shrink_if_sparse<K: Hash + Eq, V>(map: &mut HashMap<K, V>) {
    if let Some(room) = shrunk_room(map.len(), map.capacity()) {
        map.shrink_to(room);
    }
}

/// The room to shrink to when `len` entries sit in room for `capacity`
/// ([`shrink_if_sparse`]'s rule, for any collection), or `None` to keep it.
pub fn shrunk_room(len: usize, capacity: usize) -> Option<usize> {
    (capacity > MIN_ROOM && len * 4 < capacity).then(|| (len * 2).max(MIN_ROOM))
}

impl<K: Hash + Eq, V> RefGuard<K, V> {
    /// The entry's value, as it was when this guard was taken.
    pub fn value(&self) -> &V {
        &self.value
    }
}

impl<K: Hash + Eq, V> Drop for RefGuard<K, V> {
    fn drop(&mut self) {
        let mut entries = self.entries.lock();
        let removed = match entries.get_mut(&self.key) {
            Some(e) if e.refs > 1 => {
                e.refs -= 1;
                None
            }
            Some(_) => entries.remove(&self.key),
            None => None,
        };
        if removed.is_some() {
            shrink_if_sparse(&mut entries);
        }
        drop(entries);
        // The entry's own value (say, a channel sender) drops outside the lock.
        drop(removed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shrinks_once_most_entries_are_gone() {
        let map: RefCountedMap<u32, ()> = RefCountedMap::new();
        let guards: Vec<_> = (0..10_000).map(|k| map.acquire(k, || ())).collect();
        let peak = map.entries.lock().capacity();
        drop(guards);
        assert!(map.is_empty());
        let left = map.entries.lock().capacity();
        assert!(
            left <= 2 * MIN_ROOM,
            "capacity {left} of {peak} kept for 0 entries"
        );
    }

    #[test]
    fn the_entry_lives_while_any_guard_does() {
        let map = RefCountedMap::new();
        let a = map.acquire("bob", || 1);
        let b = map.acquire("bob", || 2);
        assert_eq!(
            (*a.value(), *b.value()),
            (1, 1),
            "the second joins the first"
        );
        assert_eq!(map.holders("bob"), 2);
        drop(a);
        assert_eq!(map.get("bob"), Some(1));
        drop(b);
        assert_eq!(map.get("bob"), None);
        assert!(map.is_empty());
    }

    #[test]
    fn keys_are_independent() {
        let map = RefCountedMap::new();
        let _a = map.acquire("alice".to_owned(), || 'a');
        let b = map.acquire("bob".to_owned(), || 'b');
        assert_eq!(map.len(), 2);
        drop(b);
        assert_eq!((map.get("alice"), map.get("bob")), (Some('a'), None));
    }

    #[test]
    fn a_new_entry_after_the_last_guard_left_is_made_afresh() {
        let map = RefCountedMap::new();
        drop(map.acquire(1, || "old"));
        assert_eq!(*map.acquire(1, || "new").value(), "new");
    }

    #[test]
    fn acquire_within_caps_holders_per_key() {
        let map = RefCountedMap::new();
        let first = map.acquire_within(7, 2, || ()).unwrap();
        let _second = map.acquire_within(7, 2, || ()).unwrap();
        assert!(map.acquire_within(7, 2, || ()).is_none());
        assert_eq!(map.holders(&7), 2, "a refusal takes nothing");
        assert!(map.acquire_within(8, 2, || ()).is_some(), "per key");
        drop(first);
        assert!(map.acquire_within(7, 2, || ()).is_some());
        assert!(map.acquire_within(9, 0, || ()).is_none());
        assert_eq!(map.holders(&9), 0);
        assert_eq!(map.get(&9), None, "a refused key leaves no entry");
    }

    #[test]
    fn concurrent_acquire_and_drop_leave_nothing_behind() {
        const THREADS: usize = 8;
        const ROUNDS: usize = 2_000;
        let map: RefCountedMap<u8, u32> = RefCountedMap::new();
        let start = std::sync::Barrier::new(THREADS);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (map, start) = (map.clone(), &start);
                s.spawn(move || {
                    start.wait();
                    for i in 0..ROUNDS {
                        // Few keys, so threads keep joining and leaving the same entries.
                        let key = u8::try_from((t + i) % 3).unwrap();
                        let held = map.acquire(key, || u32::from(key));
                        assert_eq!(*held.value(), u32::from(key));
                        assert!(map.holders(&key) >= 1);
                        // The capped path races with the uncapped one.
                        let _capped = map.acquire_within(key, 2, || u32::from(key));
                    }
                });
            }
        });
        assert!(map.is_empty(), "an entry outlived its last guard");
    }
}
