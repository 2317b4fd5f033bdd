//! Byte budgets for SSE streams (SPEC §7.4): what waits in a stream's queue
//! for a client that reads slowly (or never) is counted in bytes, per stream,
//! per client network and across all streams, so stalled readers cannot pin
//! unbounded memory, and one network's cannot starve everyone else's.

use std::net::IpAddr;
use std::sync::Arc;

use axum::response::sse::Event;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::refmap::{RefCountedMap, RefGuard};

/// Most event bytes queued for one stream (one more event always fits, so
/// an envelope larger than this still goes out, alone).
pub const STREAM_BUFFER_BYTES: usize = 512 * 1024;
/// Most event bytes queued across all streams of the process.
pub const ALL_STREAMS_BUFFER_BYTES: usize = 128 * 1024 * 1024;
/// One client network (`rate_limit::network_key`: an IPv4 address or an
/// IPv6 /64) may hold at most this fraction (1/16) of the process-wide budget.
pub const NETWORK_SHARE_DIVISOR: usize = 16;
/// SSE framing counted on top of an event's data (`event:`, `id:`, `data:`).
pub(super) const EVENT_OVERHEAD: usize = 64;

/// The process-wide budget, shared by every stream (cheap to clone).
#[derive(Clone)]
pub struct ByteBudget {
    all: Arc<Semaphore>,
    capacity: usize,
    network_share: usize,
    /// Each network's share, alive while one of its streams (or a queued
    /// event of one) is.
    networks: RefCountedMap<IpAddr, Arc<Semaphore>>,
}

/// One stream's own budget and its network's share.
pub(super) struct StreamBudget {
    own: Arc<Semaphore>,
    network: Arc<RefGuard<IpAddr, Arc<Semaphore>>>,
}

/// Bytes reserved for one queued event; released when it is dropped, i.e.
/// when the response body takes the event from the queue.
#[must_use = "the bytes are released as soon as the reservation is dropped"]
pub(super) struct Reserved {
    _own: OwnedSemaphorePermit,
    _network: OwnedSemaphorePermit,
    _all: OwnedSemaphorePermit,
    /// Keeps the network's share alive while the event is queued, even
    /// after its stream task ended, so a new stream cannot get a fresh one.
    _share: Arc<RefGuard<IpAddr, Arc<Semaphore>>>,
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
    /// A process-wide budget of `capacity` bytes; each network may hold
    /// `capacity / NETWORK_SHARE_DIVISOR` of it.
    pub fn new(capacity: usize) -> Self {
        Self::with_network_share(capacity, capacity / NETWORK_SHARE_DIVISOR)
    }

    /// A process-wide budget of `capacity` bytes, of which one network may
    /// hold `network_share`.
    pub fn with_network_share(capacity: usize, network_share: usize) -> Self {
        Self {
            all: Arc::new(Semaphore::new(capacity)),
            capacity,
            network_share,
            networks: RefCountedMap::new(),
        }
    }

    /// Most bytes one network's streams may hold queued.
    pub fn network_share(&self) -> usize {
        self.network_share
    }

    /// A fresh budget for one stream of a client in `network` (a
    /// `rate_limit::network_key`).
    pub(super) fn for_stream(&self, network: IpAddr) -> StreamBudget {
        let share = self.network_share();
        StreamBudget {
            own: Arc::new(Semaphore::new(STREAM_BUFFER_BYTES)),
            network: Arc::new(
                self.networks
                    .acquire(network, || Arc::new(Semaphore::new(share))),
            ),
        }
    }

    /// Waits until `bytes` (counted as at most [`STREAM_BUFFER_BYTES`]) fit
    /// in the stream's budget, its network's share and the process-wide one.
    pub(super) async fn reserve(&self, stream: &StreamBudget, bytes: usize) -> Reserved {
        let n = u32::try_from(bytes.min(STREAM_BUFFER_BYTES)).unwrap_or(u32::MAX);
        // No semaphore is ever closed, so acquiring cannot fail.
        let take = |sem: &Arc<Semaphore>| sem.clone().acquire_many_owned(n);
        let own = take(&stream.own).await;
        let network = take(stream.network.value()).await;
        let all = take(&self.all).await;
        let never_closed = |_| unreachable!("stream byte budgets are never closed");
        Reserved {
            _own: own.unwrap_or_else(never_closed),
            _network: network.unwrap_or_else(never_closed),
            _all: all.unwrap_or_else(never_closed),
            _share: stream.network.clone(),
        }
    }

    /// Reserves `bytes` only if they fit at once (ephemeral events, SPEC
    /// §7.7, are dropped rather than waited for).
    pub(super) fn try_reserve(&self, stream: &StreamBudget, bytes: usize) -> Option<Reserved> {
        let n = u32::try_from(bytes.min(STREAM_BUFFER_BYTES)).unwrap_or(u32::MAX);
        let take = |sem: &Arc<Semaphore>| sem.clone().try_acquire_many_owned(n).ok();
        Some(Reserved {
            _own: take(&stream.own)?,
            _network: take(stream.network.value())?,
            _all: take(&self.all)?,
            _share: stream.network.clone(),
        })
    }

    /// Bytes currently queued across all streams.
    pub fn in_use(&self) -> usize {
        self.capacity.saturating_sub(self.all.available_permits())
    }

    /// Bytes currently queued by the streams of `network` (a
    /// `rate_limit::network_key`).
    pub fn network_in_use(&self, network: IpAddr) -> usize {
        self.networks.get(&network).map_or(0, |sem| {
            self.network_share().saturating_sub(sem.available_permits())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(last: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, last])
    }

    #[tokio::test]
    async fn one_network_holds_at_most_its_share_and_others_still_fit() {
        let global = ByteBudget::new(NETWORK_SHARE_DIVISOR * STREAM_BUFFER_BYTES);
        let share = global.network_share();
        let streams: Vec<_> = (0..3).map(|_| global.for_stream(net(1))).collect();
        let _held = (
            global.reserve(&streams[0], share / 2).await,
            global.reserve(&streams[1], share / 2).await,
        );
        assert_eq!(global.network_in_use(net(1)), share);
        // A third stream of the same network waits; another network fits.
        let mut third = Box::pin(global.reserve(&streams[2], 1));
        assert!(futures_util::poll!(&mut third).is_pending());
        let other = global.for_stream(net(2));
        assert!(futures_util::poll!(Box::pin(global.reserve(&other, 1))).is_ready());
    }

    #[tokio::test]
    async fn a_stream_waits_once_its_own_budget_or_the_global_one_is_spent() {
        let global = ByteBudget::with_network_share(
            STREAM_BUFFER_BYTES * 3 / 2,
            STREAM_BUFFER_BYTES * 3 / 2,
        );
        let (a, b) = (global.for_stream(net(1)), global.for_stream(net(1)));
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
