//! Byte budgets for SSE streams (SPEC §7.4): what waits in a stream's queue
//! for a client that reads slowly (or never) is counted in bytes, per stream
//! and across all streams, so stalled readers cannot pin unbounded memory.

use std::sync::Arc;

use axum::response::sse::Event;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most event bytes queued for one stream (one more event always fits, so
/// an envelope larger than this still goes out, alone).
pub const STREAM_BUFFER_BYTES: usize = 512 * 1024;
/// Most event bytes queued across all streams of the process.
pub const ALL_STREAMS_BUFFER_BYTES: usize = 128 * 1024 * 1024;
/// SSE framing counted on top of an event's data (`event:`, `id:`, `data:`).
pub(super) const EVENT_OVERHEAD: usize = 64;

/// The process-wide budget, shared by every stream (cheap to clone).
#[derive(Clone)]
pub struct ByteBudget {
    all: Arc<Semaphore>,
    capacity: usize,
}

/// One stream's own budget.
pub(super) type StreamBudget = Arc<Semaphore>;

/// Bytes reserved for one queued event; released when it is dropped, i.e.
/// when the response body takes the event from the queue.
#[must_use = "the bytes are released as soon as the reservation is dropped"]
pub(super) struct Reserved {
    _own: OwnedSemaphorePermit,
    _all: OwnedSemaphorePermit,
}

/// An event in a stream's queue with the bytes it holds (`None`: a small
/// control event, not counted).
pub(super) struct Outgoing {
    /// The SSE event.
    pub(super) event: Event,
    /// What it holds of the budgets, until it is dropped.
    pub(super) _reserved: Option<Reserved>,
}

impl Outgoing {
    /// A small control event (`reset`, `close`), not counted.
    pub(super) fn control(event: Event) -> Self {
        Self {
            event,
            _reserved: None,
        }
    }
}

impl ByteBudget {
    /// A process-wide budget of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self {
            all: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// A fresh budget for one stream.
    pub(super) fn for_stream() -> StreamBudget {
        Arc::new(Semaphore::new(STREAM_BUFFER_BYTES))
    }

    /// Waits until `bytes` (counted as at most [`STREAM_BUFFER_BYTES`]) fit
    /// in both the stream's budget and the process-wide one.
    pub(super) async fn reserve(&self, own: &StreamBudget, bytes: usize) -> Reserved {
        let n = u32::try_from(bytes.min(STREAM_BUFFER_BYTES)).unwrap_or(u32::MAX);
        // Neither semaphore is ever closed, so acquiring cannot fail.
        let own = own
            .clone()
            .acquire_many_owned(n)
            .await
            .unwrap_or_else(|_| unreachable!("stream budgets are never closed"));
        let all = self
            .all
            .clone()
            .acquire_many_owned(n)
            .await
            .unwrap_or_else(|_| unreachable!("the stream byte budget is never closed"));
        Reserved {
            _own: own,
            _all: all,
        }
    }

    /// Bytes currently queued across all streams.
    pub fn in_use(&self) -> usize {
        self.capacity.saturating_sub(self.all.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_waits_once_its_own_budget_or_the_global_one_is_spent() {
        let global = ByteBudget::new(STREAM_BUFFER_BYTES * 3 / 2);
        let (a, b) = (ByteBudget::for_stream(), ByteBudget::for_stream());
        let first = global.reserve(&a, STREAM_BUFFER_BYTES / 2).await;
        let second = global.reserve(&a, STREAM_BUFFER_BYTES / 2).await;
        assert_eq!(global.in_use(), STREAM_BUFFER_BYTES);
        // Stream a is full: its next event waits until one is taken.
        let mut third = Box::pin(global.reserve(&a, 1));
        assert!(futures_util::poll!(&mut third).is_pending());
        drop(first);
        let std::task::Poll::Ready(_third) = futures_util::poll!(&mut third) else {
            panic!("room was made in stream a");
        };
        // Stream b has its own room, but a huge event (counted as one
        // stream's budget) no longer fits globally.
        let mut huge = Box::pin(global.reserve(&b, 10 * STREAM_BUFFER_BYTES));
        assert!(futures_util::poll!(&mut huge).is_pending());
        drop(second);
        assert!(futures_util::poll!(&mut huge).is_ready());
    }
}
