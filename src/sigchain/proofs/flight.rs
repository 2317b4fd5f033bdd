//! One check per chain at a time, detached from the requests (SPEC §15.5):
//! the first request for a chain head spawns its check; later ones join it.
//! A request that goes away does not cancel the check, whose verdicts end
//! in the cache either way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use super::ProofView;

/// Most chain checks running at once; past it, a request gets the cached
/// verdicts and `busy` for the others.
pub const MAX_FLIGHTS: usize = 256;

/// A running check's verdicts, `None` if its task panicked.
pub(super) type Flight = Shared<BoxFuture<'static, Option<Arc<Vec<ProofView>>>>>;

/// Running checks by chain and head (`"<primary> <etag>"`).
#[derive(Default)]
pub(super) struct Flights(Arc<Mutex<HashMap<String, Flight>>>);

impl Flights {
    /// The running check of `key`, or `start`'s verdicts in a new task;
    /// `None` when [`MAX_FLIGHTS`] run already. The task removes its entry
    /// when it ends (panics included), before its waiters wake.
    pub(super) fn join_or_start<F>(&self, key: &str, start: F) -> Option<Flight>
    where
        F: Future<Output = Vec<ProofView>> + Send + 'static,
    {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = map.get(key) {
            return Some(f.clone());
        }
        if map.len() >= MAX_FLIGHTS {
            return None;
        }
        let done = Done {
            map: Arc::clone(&self.0),
            key: key.to_owned(),
        };
        // Spawned while the map is locked: the task's `Done` cannot remove
        // the entry before it is inserted.
        let task = tokio::spawn(async move {
            let _done = done;
            start.await
        });
        let flight = task.map(|r| r.ok().map(Arc::new)).boxed().shared();
        map.insert(key.to_owned(), flight.clone());
        Some(flight)
    }

    /// How many checks are running.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// Removes a finished check's entry.
struct Done {
    map: Arc<Mutex<HashMap<String, Flight>>>,
    key: String,
}

impl Drop for Done {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(&self.key);
    }
}
