//! Read-only connections, each owned by a thread of its own (issue 14,
//! TODO #208).
//!
//! Reads used to borrow a pooled connection on tokio's blocking pool. Under
//! a burst of stream opens that pool grew to ~42 threads (a read's permit
//! came free before its thread was idle again, so the next read spawned
//! another), and those threads were shared with everything else that
//! blocks: a getaddrinfo that hangs for seconds (push, proof checks) could
//! hold one. Here at most [`MAX_READERS`] threads exist, started on first
//! need, each keeping one connection for its life (its page cache only
//! until it has been idle for `RELEASE_AFTER`, see `store`).
//!
//! A read holds a slot of a semaphore with as many permits as readers, so
//! a slot always finds an idle reader or room to start one. The reader puts
//! itself back on the idle list before the slot is released, from its own
//! thread, so a caller that gives up mid-read loses nothing. Reads go on
//! after `Store::close` (which stops the writer); the threads end when the
//! [`Readers`] are dropped (their channels close). A read needing one
//! snapshot across statements uses `in_snapshot` (cached BEGIN/COMMIT).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::{Result, StoreError, open_reader};

/// Most read-only connections (and reader threads) at once.
pub(super) const MAX_READERS: usize = 8;

/// Page cache of each read-only connection, in KiB (SQLite's default is
/// 2,000). Reads are short lookups whose pages the OS caches anyway; at
/// the default, 10k stream opens (one replay read each) grew the readers'
/// caches by ~12 MB, which stayed until idle readers began handing their
/// caches back (issue 14: RSS after close 57 → 42 MB, per idle stream
/// 8.1 → 6.6 KB at 10k, in `cargo bench --bench messaging`). The writer
/// keeps the default.
pub(super) const CACHE_KIB: i64 = 512;

/// A read to run: gets the reader's connection, or why it could not open.
type Job = Box<dyn FnOnce(Result<&Connection>) + Send>;

/// What a reader thread receives: the job, the way back to the idle list
/// (its own sender) and the slot it frees once it is idle again.
struct Run {
    job: Job,
    reader: Reader,
    slot: OwnedSemaphorePermit,
}

/// The sending side of one reader thread.
struct Reader(Sender<Run>);

/// The pool of reader threads of one database file.
pub(super) struct Readers {
    path: PathBuf,
    release_after: std::time::Duration,
    /// Page caches handed back by idle readers, counted.
    released: Arc<AtomicU64>,
    /// Reads run (or begun), for `/metrics`.
    reads: AtomicU64,
    slots: Arc<Semaphore>,
    idle: Arc<Mutex<Vec<Reader>>>,
}

impl Readers {
    pub(super) fn new(path: &Path, release_after: std::time::Duration) -> Self {
        Self {
            path: path.to_owned(),
            release_after,
            released: Arc::default(),
            reads: AtomicU64::new(0),
            slots: Arc::new(Semaphore::new(MAX_READERS)),
            idle: Arc::new(Mutex::new(Vec::with_capacity(MAX_READERS))),
        }
    }

    /// Runs `f` on a reader's connection, off the async threads.
    ///
    /// Errors: what `f` returns; [`StoreError::JobPanicked`] if `f` panicked (the reader lives on);
    /// [`StoreError::ReaderGone`] if no reader thread could be started.
    pub(super) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.reads.fetch_add(1, Ordering::Relaxed);
        // The semaphore is never closed: reads go on until the store drops.
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::ReaderGone)?;
        // Popped first, so a thread is never started under the idle lock.
        let popped = self.idle.lock().pop();
        let reader = match popped {
            Some(r) => r,
            None => self.start()?,
        };
        let (tx, rx) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move |conn| {
            let _g = span.enter();
            let out = conn.and_then(|c| {
                std::panic::catch_unwind(AssertUnwindSafe(|| f(c)))
                    .unwrap_or(Err(StoreError::JobPanicked))
            });
            let _ = tx.send(out);
        });
        let sender = reader.0.clone();
        sender
            .send(Run { job, reader, slot })
            .map_err(|_| StoreError::ReaderGone)?;
        rx.await.map_err(|_| StoreError::ReaderGone)?
    }

    /// Reads run so far (each one trip to a reader thread).
    pub(super) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Starts one more reader thread (only when every started one is busy
    /// and a slot is free, so never more than [`MAX_READERS`]).
    fn start(&self) -> Result<Reader> {
        let (tx, rx) = channel();
        let path = self.path.clone();
        let idle = Arc::downgrade(&self.idle);
        let (release_after, released) = (self.release_after, self.released.clone());
        std::thread::Builder::new()
            .name("kez-db-reader".to_owned())
            .spawn(move || reader_loop(&path, &rx, &idle, release_after, &released))
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot start a database reader thread");
                StoreError::ReaderGone
            })?;
        Ok(Reader(tx))
    }
}

/// One reader thread: opens its connection on first use (again after a
/// failed open), runs each job, then goes back on the idle list; hands its
/// page cache back once idle for `release_after`. Ends when its channel
/// closes, i.e. once the pool is gone.
fn reader_loop(
    path: &Path,
    rx: &Receiver<Run>,
    idle: &Weak<Mutex<Vec<Reader>>>,
    release_after: std::time::Duration,
    released: &AtomicU64,
) {
    let mut conn: Option<Connection> = None;
    let mut cached = false;
    loop {
        let next = if cached {
            rx.recv_timeout(release_after)
        } else {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        let Run { job, reader, slot } = match next {
            Ok(run) => run,
            Err(RecvTimeoutError::Timeout) => {
                cached = false;
                if let Some(c) = &conn {
                    match c.release_memory() {
                        Ok(()) => {
                            released.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "a database reader could not release its cache")
                        }
                    }
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        cached = true;
        match conn.take().map_or_else(|| open_reader(path), Ok) {
            Ok(c) => {
                job(Ok(&c));
                conn = left_usable(c);
            }
            Err(e) => job(Err(e)),
        }
        match idle.upgrade() {
            Some(list) => list.lock().push(reader),
            None => return,
        }
        drop(slot);
    }
}

/// The connection back after a job, or `None` (reopened on the next job)
/// if the job left a transaction open that will not roll back: kept, it
/// would pin one WAL snapshot for good (no checkpoint could pass it) and
/// answer every later read from it.
fn left_usable(conn: Connection) -> Option<Connection> {
    if conn.is_autocommit() {
        return Some(conn);
    }
    if let Err(e) = conn.execute_batch("ROLLBACK") {
        tracing::error!(error = %e, "a read left a transaction open; reopening its connection");
    }
    conn.is_autocommit().then_some(conn)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
    use std::sync::{Arc, Barrier};
    use std::thread::ThreadId;
    use std::time::Duration;

    use super::MAX_READERS;
    use crate::store::{Store, StoreError};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.db")).unwrap();
        (dir, store)
    }

    /// A reader hands its cache back once idle, and only then: not between
    /// reads that come sooner, and not again while it stays idle.
    #[tokio::test]
    async fn an_idle_reader_releases_its_cache_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        drop(Store::open(&path).unwrap());
        let readers = super::Readers::new(&path, Duration::from_millis(500));
        let released = || readers.released.load(std::sync::atomic::Ordering::Relaxed);
        let read = || {
            readers.run(|c| {
                c.query_row("SELECT count(*) FROM handles", [], |r| r.get::<_, i64>(0))?;
                Ok(std::thread::current().id())
            })
        };
        // Reads 20 ms apart: none releases unless the machine stalled past
        // the 500 ms (then the counts below are only lower bounds).
        let (start, mut threads) = (std::time::Instant::now(), HashSet::new());
        for _ in 0..5 {
            threads.insert(read().await.unwrap());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let calm = start.elapsed() < Duration::from_millis(500);
        if calm {
            assert_eq!(released(), 0, "released while reads kept coming");
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // One release per reader thread that ran a read (a late return to
        // the idle list can make a second one start).
        let first = released();
        let used = u64::try_from(threads.len()).unwrap();
        if calm {
            assert_eq!(
                first, used,
                "an idle reader kept its cache, or released it twice"
            );
        } else {
            assert!(first >= used, "an idle reader kept its cache");
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(released(), first, "released again while idle");
        read().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(released(), first + 1);
    }

    /// `MAX_READERS` reads that only finish once all of them are running;
    /// the threads they ran on.
    async fn all_slots_at_once(store: &Store) -> HashSet<ThreadId> {
        let barrier = Arc::new(Barrier::new(MAX_READERS));
        let reads = (0..MAX_READERS).map(|_| {
            let b = barrier.clone();
            store.read(move |_| {
                b.wait();
                Ok(std::thread::current().id())
            })
        });
        let all = futures_util::future::join_all(reads);
        let done = tokio::time::timeout(Duration::from_secs(10), all).await;
        done.expect("a reader slot was lost: the barrier never filled")
            .into_iter()
            .map(Result::unwrap)
            .collect()
    }

    /// Every reader started, then `mishap`, then all slots at once: the
    /// same threads answer (none was lost and replaced).
    async fn no_reader_lost_to<F: std::future::Future<Output = ()>>(store: &Store, mishap: F) {
        let before = all_slots_at_once(store).await;
        assert_eq!(before.len(), MAX_READERS);
        mishap.await;
        let after = all_slots_at_once(store).await;
        assert_eq!(after, before, "a reader was lost and another started");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_reads_runs_on_at_most_max_readers_threads() {
        let (_dir, store) = store();
        let reads = (0..400).map(|_| {
            store.read(|c| {
                c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
                Ok(std::thread::current().id())
            })
        });
        let threads: HashSet<_> = futures_util::future::join_all(reads)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert!(
            threads.len() <= MAX_READERS,
            "{} threads ran reads",
            threads.len()
        );
    }

    #[tokio::test]
    async fn a_panicking_read_is_an_error_and_its_reader_lives_on() {
        let (_dir, store) = store();
        no_reader_lost_to(&store, async {
            let out = store
                .read(|_| -> Result<(), StoreError> { panic!("boom") })
                .await;
            assert!(matches!(out, Err(StoreError::JobPanicked)), "{out:?}");
        })
        .await;
    }

    #[tokio::test]
    async fn a_read_given_up_mid_way_keeps_its_slot_and_reader() {
        let (_dir, store) = store();
        no_reader_lost_to(&store, async {
            let (started_tx, started_rx) = channel();
            let (release_tx, release_rx) = channel::<()>();
            let slow = store.read(move |_| {
                let _ = started_tx.send(());
                let _ = release_rx.recv();
                Ok(())
            });
            let given_up = tokio::select! {
                _ = slow => false,
                _ = tokio::task::spawn_blocking(move || started_rx.recv()) => true,
            };
            assert!(given_up);
            drop(release_tx);
        })
        .await;
    }

    #[tokio::test]
    async fn a_read_that_leaves_a_transaction_open_does_not_pin_its_connection() {
        let (_dir, store) = store();
        let left_open = store
            .read(|c| {
                c.execute_batch("BEGIN; SELECT count(*) FROM mailboxes;")?;
                Err::<(), _>(StoreError::ReaderGone)
            })
            .await;
        assert!(left_open.is_err());
        let reads = (0..MAX_READERS * 4).map(|_| store.read(|c| Ok(c.is_autocommit())));
        for autocommit in futures_util::future::join_all(reads).await {
            assert!(
                autocommit.unwrap(),
                "a reader is still inside that transaction"
            );
        }
    }

    thread_local! {
        /// Dropped, closing its channel, when the thread holding it ends.
        static ON_EXIT: RefCell<Option<Sender<()>>> = const { RefCell::new(None) };
    }

    #[tokio::test]
    async fn the_reader_threads_end_with_the_store() {
        let (_dir, store) = store();
        let (tx, rx) = channel::<()>();
        store
            .read(move |_| {
                ON_EXIT.with(|s| *s.borrow_mut() = Some(tx));
                Ok(())
            })
            .await
            .unwrap();
        store.close().await;
        drop(store);
        let ended = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(
            ended,
            Err(RecvTimeoutError::Disconnected),
            "the reader thread lives on"
        );
    }
}
