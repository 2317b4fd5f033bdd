//! Shedding slow consumers (SPEC §7.4, TODO #211). The byte budgets bound
//! what readers may hold, but a client that reads a byte every few seconds
//! keeps its write timeout from firing while its bytes stay held: 16
//! networks of such clients held the whole process budget, and every other
//! stream waited, every poll got 429, until they left. Now a reservation
//! that has to wait on a shared budget (its network's share, or the
//! process-wide one) first closes the connections of slow readers: those
//! that have held bytes for [`SLOW_AFTER`] without a break and finished
//! writing less than [`PROGRESS_BYTES`] in that time (a reader catching
//! up on a backlog holds bytes all along, but writes them): of its own
//! network when the share is short, else of the network holding the most
//! that has any. What they held is dropped with the connection; a
//! stream's client resumes from its `Last-Event-ID` (stored messages are
//! read again), an answer's client asks again.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

/// How long a reader may hold bytes without a break, and go without
/// writing [`PROGRESS_BYTES`], before it counts as slow (and may be shed
/// under pressure): at most 16 KiB/s. Bytes count as written when a whole
/// frame is, so a 256 KiB event read at 64 KiB/s still just passes.
pub const SLOW_AFTER: Duration = Duration::from_secs(4);
/// Bytes a reader must finish writing per [`SLOW_AFTER`] not to be slow.
pub(super) const PROGRESS_BYTES: usize = 64 * 1024;
/// A budget is scanned for slow readers at most this often.
const SHED_EVERY_MS: u64 = 100;

/// Closes one client connection from anywhere: set on each request by the
/// connection loop (`server::conn`), taken by a stream or a poll answer.
#[derive(Clone, Default)]
pub struct CloseConnection(Arc<Notify>);

impl CloseConnection {
    /// Asks the connection's task to drop the connection, with whatever it
    /// still has to write.
    pub fn close(&self) {
        self.0.notify_one();
    }

    /// Resolves once [`Self::close`] was called (also before this was polled).
    pub async fn closed(&self) {
        self.0.notified().await;
    }
}

/// Milliseconds on the budget's own clock (tokio's, so tests can pause
/// it); 0 is never a reading.
#[derive(Clone, Copy)]
pub(super) struct Clock(Instant);

impl Clock {
    pub(super) fn new() -> Self {
        Self(Instant::now())
    }

    fn now_ms(self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }
}

/// One reader holding bytes of the budgets: a stream, or a poll answer.
pub(super) struct Holder {
    /// Bytes of its network's share it holds (events, pages, answers).
    held: AtomicUsize,
    /// Bytes let go so far (written, or dropped with their connection).
    written: AtomicUsize,
    /// When `written` last crossed a multiple of [`PROGRESS_BYTES`], or
    /// `held` last left 0 ([`Clock`] ms): never before the current busy
    /// spell began, so it alone tells how long the reader went without
    /// progress while holding bytes.
    progress_ms: AtomicU64,
    /// Its connection, when it came through the connection loop.
    close: Option<CloseConnection>,
    shed: AtomicBool,
    clock: Clock,
}

impl Holder {
    pub(super) fn new(clock: Clock, close: Option<CloseConnection>) -> Arc<Self> {
        Arc::new(Self {
            held: AtomicUsize::new(0),
            written: AtomicUsize::new(0),
            progress_ms: AtomicU64::new(0),
            close,
            shed: AtomicBool::new(false),
            clock,
        })
    }

    pub(super) fn add(&self, bytes: usize) {
        if bytes > 0 && self.held.fetch_add(bytes, Ordering::AcqRel) == 0 {
            self.progress_ms
                .store(self.clock.now_ms(), Ordering::Release);
        }
    }

    pub(super) fn sub(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let before = self.written.fetch_add(bytes, Ordering::AcqRel);
        if before / PROGRESS_BYTES != before.wrapping_add(bytes) / PROGRESS_BYTES {
            self.progress_ms
                .store(self.clock.now_ms(), Ordering::Release);
        }
        self.held.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// At `now_ms`: holding bytes without a break for [`SLOW_AFTER`], and
    /// [`PROGRESS_BYTES`] not written in that time.
    fn is_slow(&self, now_ms: u64) -> bool {
        let progress = self.progress_ms.load(Ordering::Acquire);
        let slow = u64::try_from(SLOW_AFTER.as_millis()).unwrap_or(u64::MAX);
        self.held.load(Ordering::Acquire) > 0 && now_ms.saturating_sub(progress) >= slow
    }

    /// Closes its connection once; false when it has none or was shed.
    fn shed(&self) -> bool {
        let Some(close) = &self.close else {
            return false;
        };
        if self.shed.swap(true, Ordering::AcqRel) {
            return false;
        }
        close.close();
        true
    }
}

/// One client network's share of the process budget and its readers.
pub(super) struct NetworkShare {
    pub(super) permits: Arc<Semaphore>,
    capacity: usize,
    holders: Mutex<Vec<Weak<Holder>>>,
    last_shed_ms: AtomicU64,
}

impl NetworkShare {
    pub(super) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            holders: Mutex::default(),
            last_shed_ms: AtomicU64::new(0),
        })
    }

    /// Bytes of the share in use.
    pub(super) fn in_use(&self) -> usize {
        self.capacity
            .saturating_sub(self.permits.available_permits())
    }

    /// Adds a reader; the ones gone are dropped from the list as it grows.
    pub(super) fn register(&self, holder: &Arc<Holder>) {
        let mut holders = self.holders.lock();
        if holders.len() == holders.capacity() {
            holders.retain(|h| h.strong_count() > 0);
        }
        holders.push(Arc::downgrade(holder));
    }

    /// Closes the connections of its slow readers but `asking` (unless it
    /// was scanned within [`SHED_EVERY_MS`]); how many.
    pub(super) fn shed_slow(&self, now_ms: u64, asking: &Holder) -> u64 {
        if !take_turn(&self.last_shed_ms, now_ms) {
            return 0;
        }
        let mut holders = self.holders.lock();
        holders.retain(|h| h.strong_count() > 0);
        let mut closed = 0;
        for holder in holders.iter().filter_map(Weak::upgrade) {
            let other = !std::ptr::eq(Arc::as_ptr(&holder), asking);
            if other && holder.is_slow(now_ms) && holder.shed() {
                closed += 1;
            }
        }
        closed
    }
}

/// Whether a scan may run at `now_ms`: none ran within [`SHED_EVERY_MS`]
/// (`last` holds when one last did), and no other caller took this turn.
fn take_turn(last: &AtomicU64, now_ms: u64) -> bool {
    let was = last.load(Ordering::Acquire);
    now_ms.saturating_sub(was) >= SHED_EVERY_MS
        && last
            .compare_exchange(was, now_ms, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
}

/// Process-wide shedding: when the whole budget is short, the network
/// holding the most that has slow readers loses them.
pub(super) struct Shedder {
    clock: Clock,
    last_ms: AtomicU64,
    /// Connections closed so far (`/metrics`).
    pub(super) closed: AtomicU64,
}

impl Shedder {
    pub(super) fn new(clock: Clock) -> Self {
        Self {
            clock,
            last_ms: AtomicU64::new(0),
            closed: AtomicU64::new(0),
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// A network's share is short for `asking`: the network's other slow
    /// readers go.
    pub(super) fn shed_network(&self, share: &NetworkShare, asking: &Holder) {
        let closed = share.shed_slow(self.now_ms(), asking);
        self.count(closed);
    }

    /// The process budget is short for `asking`: the slow readers of the
    /// network holding the most (among those that have any) go, at most
    /// every [`SHED_EVERY_MS`].
    pub(super) fn shed_any(
        &self,
        networks: impl FnOnce() -> Vec<Arc<NetworkShare>>,
        asking: &Holder,
    ) {
        let now = self.now_ms();
        if !take_turn(&self.last_ms, now) {
            return;
        }
        let mut networks = networks();
        networks.sort_unstable_by_key(|n| std::cmp::Reverse(n.in_use()));
        for network in networks {
            // Each network's own rate limit is skipped here: this scan
            // is already rate-limited.
            network.last_shed_ms.store(0, Ordering::Release);
            let closed = network.shed_slow(now, asking);
            if closed > 0 {
                self.count(closed);
                return;
            }
        }
    }

    fn count(&self, closed: u64) {
        if closed > 0 {
            self.closed.fetch_add(closed, Ordering::Relaxed);
            tracing::info!(
                connections = closed,
                "closed slow readers' connections: the byte budget was short"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_busy_from_its_first_byte_until_it_holds_none() {
        let clock = Clock::new();
        let h = Holder::new(clock, None);
        assert_eq!(h.progress_ms.load(Ordering::Acquire), 0);
        h.add(10);
        let since = h.progress_ms.load(Ordering::Acquire);
        assert_ne!(since, 0);
        h.add(5);
        h.sub(10);
        assert_eq!(
            h.progress_ms.load(Ordering::Acquire),
            since,
            "still holds 5"
        );
        let later = since + u64::try_from(SLOW_AFTER.as_millis()).unwrap();
        assert!(h.is_slow(later));
        h.sub(5);
        assert_eq!(h.held.load(Ordering::Acquire), 0);
        assert!(!h.is_slow(later));
    }

    /// A reader catching up on a backlog holds bytes all along; it is not
    /// slow while it writes (review of session 9: 14 honest readers at
    /// 200 KB/s behind one address were shed as slow).
    #[tokio::test(start_paused = true)]
    async fn a_reader_that_keeps_writing_is_not_slow_however_long_it_holds_bytes() {
        let h = Holder::new(Clock::new(), None);
        h.add(10 * PROGRESS_BYTES);
        for _ in 0..10 {
            tokio::time::advance(SLOW_AFTER / 2).await;
            h.add(PROGRESS_BYTES);
            h.sub(PROGRESS_BYTES);
            assert!(!h.is_slow(h.clock.now_ms()));
        }
        tokio::time::advance(SLOW_AFTER).await;
        assert!(h.is_slow(h.clock.now_ms()), "it stopped writing");
        // Dribbling less than PROGRESS_BYTES per SLOW_AFTER is slow too.
        h.sub(PROGRESS_BYTES / 4);
        assert!(h.is_slow(h.clock.now_ms()));
    }

    #[tokio::test]
    async fn only_slow_readers_with_a_connection_are_shed_once() {
        let clock = Clock::new();
        let share = NetworkShare::new(100);
        let (slow_conn, quick_conn) = (CloseConnection::default(), CloseConnection::default());
        let slow = Holder::new(clock, Some(slow_conn.clone()));
        let quick = Holder::new(clock, Some(quick_conn.clone()));
        let unclosable = Holder::new(clock, None);
        for h in [&slow, &quick, &unclosable] {
            share.register(h);
        }
        slow.add(1);
        unclosable.add(1);
        let now = slow.progress_ms.load(Ordering::Acquire)
            + u64::try_from(SLOW_AFTER.as_millis()).unwrap();
        quick.add(1);
        quick.progress_ms.store(now, Ordering::Release);

        let asking = Holder::new(clock, None);
        assert_eq!(share.shed_slow(now, &asking), 1);
        tokio::time::timeout(Duration::from_secs(1), slow_conn.closed())
            .await
            .expect("the slow reader's connection is closed");
        assert!(futures_util::poll!(Box::pin(quick_conn.closed())).is_pending());
        // Scanned again later: nothing new to close.
        assert_eq!(share.shed_slow(now + SHED_EVERY_MS, &asking), 0);
        // Nor is the one asking, slow or not.
        assert_eq!(share.shed_slow(now + 2 * SHED_EVERY_MS, &unclosable), 0);
    }
}
