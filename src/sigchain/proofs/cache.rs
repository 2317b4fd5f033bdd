//! The checker's two caches (SPEC §15.5): verdicts per add link, and each
//! chain's active claims per chain head (so an unchanged chain is read and
//! rebuilt once, not on every request).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{ProofView, Status};
use crate::kez::sigchain::Claim;

/// How long a `verified` verdict is reused.
pub const VERIFIED_TTL: Duration = Duration::from_secs(3600);
/// How long any other verdict is reused.
pub const FAILED_TTL: Duration = Duration::from_secs(600);
/// Most verdicts cached (one per add link).
pub const MAX_CACHED: usize = 4096;
/// Most chains whose active claims are cached.
pub const MAX_CACHED_CHAINS: usize = 1024;

/// A chain's active claims: `(add link hash, claim)` in the order added.
pub type Claims = Arc<Vec<(String, Claim)>>;

struct Cached {
    view: ProofView,
    at: Instant,
    expires: Instant,
}

/// Verdicts per add link, at most [`MAX_CACHED`].
#[derive(Default)]
pub(super) struct Verdicts(Mutex<HashMap<String, Cached>>);

impl Verdicts {
    /// The unexpired verdict of the add link `hash`.
    pub(super) fn get(&self, hash: &str) -> Option<ProofView> {
        let cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(hash)
            .filter(|c| c.expires > Instant::now())
            .map(|c| c.view.clone())
    }

    /// Keeps `view` for its TTL; when full, the expired verdicts are
    /// dropped, then the one expiring first.
    pub(super) fn put(&self, view: &ProofView) {
        let ttl = if view.status == Status::Verified {
            VERIFIED_TTL
        } else {
            FAILED_TTL
        };
        let now = Instant::now();
        let mut cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_CACHED && !cache.contains_key(&view.link) {
            cache.retain(|_, c| c.expires > now);
        }
        if cache.len() >= MAX_CACHED && !cache.contains_key(&view.link) {
            // Expiring first, not necessarily checked first: the TTLs differ.
            if let Some(first) = cache
                .iter()
                .min_by_key(|(_, c)| c.expires)
                .map(|(k, _)| k.clone())
            {
                cache.remove(&first);
            }
        }
        cache.insert(
            view.link.clone(),
            Cached {
                view: view.clone(),
                at: now,
                expires: now + ttl,
            },
        );
    }

    /// Drops the verdict of `hash` when it is not `verified` and was reached
    /// at least `after` ago, so the next check fetches again (a
    /// `Cache-Control: no-cache` request, SPEC §15.5).
    pub(super) fn forget_unverified(&self, hash: &str, after: Duration) {
        let now = Instant::now();
        let mut cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.get(hash).is_some_and(|c| {
            c.view.status != Status::Verified && now.saturating_duration_since(c.at) >= after
        }) {
            cache.remove(hash);
        }
    }

    /// How many verdicts are held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// Active claims per chain, named by the chain's ETag (`"<n>-<head hash>"`:
/// a chain only grows, so its head names its content). At most
/// [`MAX_CACHED_CHAINS`]; when full, one other chain is dropped.
#[derive(Default)]
pub(super) struct ChainClaims(Mutex<HashMap<String, (String, Claims)>>);

impl ChainClaims {
    /// The claims of `primary`'s chain when its head is still `etag`.
    pub(super) fn get(&self, primary: &str, etag: &str) -> Option<Claims> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(primary)
            .filter(|(tag, _)| tag == etag)
            .map(|(_, claims)| Arc::clone(claims))
    }

    /// Keeps `claims` as `primary`'s chain at `etag`.
    pub(super) fn put(&self, primary: &str, etag: &str, claims: &Claims) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_CACHED_CHAINS
            && !map.contains_key(primary)
            && let Some(other) = map.keys().next().cloned()
        {
            map.remove(&other);
        }
        map.insert(primary.to_owned(), (etag.to_owned(), Arc::clone(claims)));
    }
}
