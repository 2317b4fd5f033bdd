//! A nostr-sdk database that remembers nothing, so every copy of an event
//! reaches the listener's own [`Dedupe`](super::Dedupe), which outlives the
//! client (listener restarts), and a re-fetch after a lag re-delivers what
//! was lost. nostr-sdk's default (`MemoryDatabase`) remembers 35,000 ids
//! and drops a known one before any notification (TODO #59).

use nostr_sdk::prelude::*;

/// Stores nothing, knows no event.
#[derive(Debug, Default)]
pub(super) struct NoDatabase;

impl NostrDatabase for NoDatabase {
    fn backend(&self) -> Backend {
        Backend::Custom("none".to_owned())
    }

    fn save_event<'a>(
        &'a self,
        _event: &'a Event,
    ) -> BoxedFuture<'a, Result<SaveEventStatus, DatabaseError>> {
        Box::pin(async { Ok(SaveEventStatus::Success) })
    }

    fn check_id<'a>(
        &'a self,
        _event_id: &'a EventId,
    ) -> BoxedFuture<'a, Result<DatabaseEventStatus, DatabaseError>> {
        Box::pin(async { Ok(DatabaseEventStatus::NotExistent) })
    }

    fn event_by_id<'a>(
        &'a self,
        _event_id: &'a EventId,
    ) -> BoxedFuture<'a, Result<Option<Event>, DatabaseError>> {
        Box::pin(async { Ok(None) })
    }

    fn count(&self, _filter: Filter) -> BoxedFuture<'_, Result<usize, DatabaseError>> {
        Box::pin(async { Ok(0) })
    }

    fn query(&self, filter: Filter) -> BoxedFuture<'_, Result<Events, DatabaseError>> {
        Box::pin(async move { Ok(Events::new(&filter)) })
    }

    fn delete(&self, _filter: Filter) -> BoxedFuture<'_, Result<(), DatabaseError>> {
        Box::pin(async { Ok(()) })
    }

    fn wipe(&self) -> BoxedFuture<'_, Result<(), DatabaseError>> {
        Box::pin(async { Ok(()) })
    }
}
