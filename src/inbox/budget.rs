//! Byte budgets for SSE streams and poll answers (SPEC §7.3, §7.4): what
//! waits for a client that reads slowly (or never) is counted in bytes, per
//! stream, per client network and across the process, so stalled readers
//! cannot pin unbounded memory, and one network's cannot starve everyone
//! else's. A reservation lasts until the bytes it covers are gone: a page
//! read from the database holds one before the read, each event takes its
//! share from it, and the frame written to the socket keeps it until the
//! write is done (`Reserved::hold`), not only while it waits in a queue.
//! A reservation that has to wait first sheds slow readers (`super::shed`).

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::response::sse::Event;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::shed::{Clock, CloseConnection, Holder, NetworkShare, SLOW_AFTER, Shedder};
use crate::refmap::{RefCountedMap, RefGuard};

/// Most event bytes queued for one stream (one more event always fits, so
/// an envelope larger than this still goes out, alone).
pub const STREAM_BUFFER_BYTES: usize = 512 * 1024;
/// Most event bytes queued across all streams of the process, unless
/// `--stream-buffers-mib` says otherwise.
pub const ALL_STREAMS_BUFFER_BYTES: usize = 128 * 1024 * 1024;
/// One client network (`rate_limit::network_key`: an IPv4 address or an
/// IPv6 /64) may hold at most this fraction (1/16) of the process-wide budget.
pub const NETWORK_SHARE_DIVISOR: usize = 16;
/// How long a poll answer waits for room in the process-wide budget, in
/// turn with the streams waiting for it, before `429 busy` (SPEC §7.3):
/// trying once lost every time to streams that were already waiting.
pub(super) const ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
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
    networks: RefCountedMap<IpAddr, Arc<NetworkShare>>,
    shedder: Arc<Shedder>,
    clock: Clock,
}

/// A network's share, held while anything of the network holds bytes.
type ShareGuard = Arc<RefGuard<IpAddr, Arc<NetworkShare>>>;

/// One stream's own budget and its network's share.
pub(super) struct StreamBudget {
    own: Arc<Semaphore>,
    network: ShareGuard,
    holder: Arc<Holder>,
}

/// Bytes reserved in the budgets: for one queued event (from its stream's
/// own budget too), or for a page or an answer being read or written (from
/// its network's share and the process-wide budget only). Released when
/// dropped; [`Reserved::hold`] ties that to the bytes it covers.
#[must_use = "the bytes are released as soon as the reservation is dropped"]
pub struct Reserved {
    own: Option<OwnedSemaphorePermit>,
    network: OwnedSemaphorePermit,
    all: OwnedSemaphorePermit,
    /// Keeps the network's share alive while the bytes are held, even
    /// after its stream ended, so a new stream cannot get a fresh one.
    share: ShareGuard,
    /// The stream or answer holding them, for shedding slow readers.
    holder: Arc<Holder>,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.holder.sub(self.network.num_permits());
    }
}

impl Reserved {
    /// Bytes held of the network's share (and of the process-wide budget).
    pub fn bytes(&self) -> usize {
        self.network.num_permits()
    }

    /// Gives back whatever is held beyond `bytes` (a page or an answer
    /// smaller than the most it could have been).
    pub fn shrink_to(&mut self, bytes: usize) {
        self.holder
            .sub(self.network.num_permits().saturating_sub(bytes));
        let permits = [
            self.own.as_mut(),
            Some(&mut self.network),
            Some(&mut self.all),
        ];
        for p in permits.into_iter().flatten() {
            let excess = p.num_permits().saturating_sub(bytes);
            drop(p.split(excess));
        }
    }

    /// `bytes` of network share and process-wide budget taken out of this
    /// reservation (an event's part of its page's), or `None` when less is
    /// left.
    pub(super) fn take(&mut self, bytes: usize) -> Option<Reserved> {
        if self.network.num_permits() < bytes || self.all.num_permits() < bytes {
            return None;
        }
        Some(Reserved {
            own: None,
            network: self.network.split(bytes)?,
            all: self.all.split(bytes)?,
            share: self.share.clone(),
            holder: self.holder.clone(),
        })
    }

    /// `bytes` that keep this reservation until their last copy is dropped:
    /// for a response frame, once the server has written it to the socket
    /// (hyper's write queue and the direct stream path both hold a frame's
    /// `Bytes` until then).
    pub fn hold(self, bytes: Bytes) -> Bytes {
        Bytes::from_owner(Held {
            bytes,
            _reserved: self,
        })
    }
}

/// Bytes with the reservation that covers them.
struct Held {
    bytes: Bytes,
    _reserved: Reserved,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// An event in a stream's queue with the bytes it holds (`None`: a small
/// control event, not counted).
pub(super) struct Outgoing {
    /// The SSE event.
    pub(super) event: Event,
    /// What it holds of the budgets, until it is dropped (its frame's
    /// bytes take it over on the way to the socket).
    pub(super) reserved: Option<Reserved>,
}

impl Outgoing {
    /// A small control event (`reset`, `close`), not counted.
    pub(super) fn control(event: Event) -> Self {
        Self {
            event,
            reserved: None,
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
        let clock = Clock::new();
        Self {
            all: Arc::new(Semaphore::new(capacity)),
            capacity,
            network_share,
            networks: RefCountedMap::new(),
            shedder: Arc::new(Shedder::new(clock)),
            clock,
        }
    }

    /// Most bytes one network's streams may hold queued.
    pub fn network_share(&self) -> usize {
        self.network_share
    }

    /// A fresh budget for one stream of a client in `network` (a
    /// `rate_limit::network_key`), whose connection `close` drops when the
    /// stream is shed as a slow reader.
    pub(super) fn for_stream(
        &self,
        network: IpAddr,
        close: Option<CloseConnection>,
    ) -> StreamBudget {
        let (network, holder) = self.join(network, close);
        StreamBudget {
            own: Arc::new(Semaphore::new(STREAM_BUFFER_BYTES)),
            network,
            holder,
        }
    }

    /// `network`'s share and a new reader registered in it.
    fn join(&self, network: IpAddr, close: Option<CloseConnection>) -> (ShareGuard, Arc<Holder>) {
        let capacity = self.network_share;
        let share = self
            .networks
            .acquire(network, || NetworkShare::new(capacity));
        let holder = Holder::new(self.clock, close);
        share.value().register(&holder);
        (Arc::new(share), holder)
    }

    /// Connections of slow readers closed to make room (`/metrics`).
    pub fn slow_readers_closed(&self) -> u64 {
        self.shedder
            .closed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `n` permits of `sem` for `asking`; while they do not fit, other
    /// slow readers are shed (of `network` when it is that network's
    /// share, else of any), again every quarter of [`SLOW_AFTER`] while
    /// the wait lasts.
    async fn acquire(
        &self,
        sem: &Arc<Semaphore>,
        n: u32,
        network: Option<&NetworkShare>,
        asking: &Holder,
    ) -> OwnedSemaphorePermit {
        let never_closed = |_| unreachable!("stream byte budgets are never closed");
        if let Ok(p) = sem.clone().try_acquire_many_owned(n) {
            return p;
        }
        let wait = sem.clone().acquire_many_owned(n);
        tokio::pin!(wait);
        loop {
            self.shed(network, asking);
            tokio::select! {
                p = &mut wait => return p.unwrap_or_else(never_closed),
                () = tokio::time::sleep(SLOW_AFTER / 4) => {}
            }
        }
    }

    fn shed(&self, network: Option<&NetworkShare>, asking: &Holder) {
        match network {
            Some(share) => self.shedder.shed_network(share, asking),
            None => self.shedder.shed_any(|| self.networks.values(), asking),
        }
    }

    /// Waits until `bytes` (counted as at most [`STREAM_BUFFER_BYTES`]) fit
    /// in the stream's budget, its network's share and the process-wide one.
    pub(super) async fn reserve(&self, stream: &StreamBudget, bytes: usize) -> Reserved {
        let n = permits(bytes.min(STREAM_BUFFER_BYTES));
        // Its own budget first: a stream whose client stalls waits there,
        // holding nothing of its network's share.
        let own = stream.own.clone().acquire_many_owned(n).await;
        // The whole event against its network and the process (at most the
        // network's share); only the stream's own budget lets a larger one
        // through alone.
        let mut shared = self.reserve_page(stream, bytes).await;
        shared.own =
            Some(own.unwrap_or_else(|_| unreachable!("stream byte budgets are never closed")));
        shared
    }

    /// `shared` (an event's part of its page's reservation) with the
    /// event's `bytes` (counted as at most [`STREAM_BUFFER_BYTES`]) of the
    /// stream's own budget, once they fit: only the stream's own reader
    /// frees them, so no stream waits on another's.
    pub(super) async fn add_own(
        stream: &StreamBudget,
        bytes: usize,
        mut shared: Reserved,
    ) -> Reserved {
        let n = permits(bytes.min(STREAM_BUFFER_BYTES));
        // No semaphore is ever closed, so acquiring cannot fail.
        let own = stream.own.clone().acquire_many_owned(n).await;
        shared.own =
            Some(own.unwrap_or_else(|_| unreachable!("stream byte budgets are never closed")));
        shared
    }

    /// Waits until `bytes` (counted as at most the network share) fit in
    /// the stream's network share and the process-wide budget: a page,
    /// reserved before it is read; its events then take their part of it.
    pub(super) async fn reserve_page(&self, stream: &StreamBudget, bytes: usize) -> Reserved {
        let n = permits(bytes.min(self.network_share));
        let share = stream.network.value();
        let asking = &stream.holder;
        let network = self.acquire(&share.permits, n, Some(share), asking).await;
        let all = self.acquire(&self.all, n, None, asking).await;
        Self::reserved(network, all, stream.network.clone(), stream.holder.clone())
    }

    fn reserved(
        network: OwnedSemaphorePermit,
        all: OwnedSemaphorePermit,
        share: ShareGuard,
        holder: Arc<Holder>,
    ) -> Reserved {
        holder.add(network.num_permits());
        Reserved {
            own: None,
            network,
            all,
            share,
            holder,
        }
    }

    /// [`Self::reserve_page`], only if the bytes fit at once.
    pub(super) fn try_reserve_page(&self, stream: &StreamBudget, bytes: usize) -> Option<Reserved> {
        self.try_shared(&stream.network, &stream.holder, bytes)
    }

    /// Reserves `bytes` (counted as at most the network share) of
    /// `network`'s share and the process-wide budget for an answer that
    /// is not a stream (a poll page, SPEC §7.3): the share at once (else
    /// `None`: the network's own answers and streams hold it), the
    /// process-wide part in turn with the streams waiting for it, for at
    /// most [`ANSWER_WAIT`] (else `None`). `close` drops its connection if
    /// it is shed as a slow reader.
    pub async fn reserve_answer(
        &self,
        network: IpAddr,
        bytes: usize,
        close: Option<CloseConnection>,
    ) -> Option<Reserved> {
        let (share, holder) = self.join(network, close);
        let n = permits(bytes.min(self.network_share));
        let own_share = self.try_take(&share.value().permits, n, Some(share.value()), &holder)?;
        let all = self.acquire(&self.all, n, None, &holder);
        let all = tokio::time::timeout(ANSWER_WAIT, all).await.ok()?;
        Some(Self::reserved(own_share, all, share, holder))
    }

    /// Reserves at once or not at all; a budget found short sheds slow
    /// readers for whoever asks next.
    fn try_shared(
        &self,
        share: &ShareGuard,
        holder: &Arc<Holder>,
        bytes: usize,
    ) -> Option<Reserved> {
        let n = permits(bytes.min(self.network_share));
        let network = self.try_take(&share.value().permits, n, Some(share.value()), holder)?;
        let all = self.try_take(&self.all, n, None, holder)?;
        Some(Self::reserved(network, all, share.clone(), holder.clone()))
    }

    /// `n` permits of `sem` at once, or `None` after shedding slow readers
    /// (of `network`, else of any) for whoever asks next.
    fn try_take(
        &self,
        sem: &Arc<Semaphore>,
        n: u32,
        network: Option<&NetworkShare>,
        asking: &Holder,
    ) -> Option<OwnedSemaphorePermit> {
        let taken = sem.clone().try_acquire_many_owned(n).ok();
        if taken.is_none() {
            self.shed(network, asking);
        }
        taken
    }

    /// Reserves `bytes` only if they fit at once (ephemeral events, SPEC
    /// §7.7, are dropped rather than waited for).
    pub(super) fn try_reserve(&self, stream: &StreamBudget, bytes: usize) -> Option<Reserved> {
        let n = permits(bytes.min(STREAM_BUFFER_BYTES));
        let own = stream.own.clone().try_acquire_many_owned(n).ok()?;
        let mut shared = self.try_shared(&stream.network, &stream.holder, bytes)?;
        shared.own = Some(own);
        Some(shared)
    }

    /// Bytes currently queued across all streams.
    pub fn in_use(&self) -> usize {
        self.capacity.saturating_sub(self.all.available_permits())
    }

    /// Bytes currently queued by the streams of `network` (a
    /// `rate_limit::network_key`).
    pub fn network_in_use(&self, network: IpAddr) -> usize {
        self.networks
            .get(&network)
            .map_or(0, |share| share.in_use())
    }
}

/// Semaphore permits for `bytes` (never more than a semaphore holds).
fn permits(bytes: usize) -> u32 {
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
