//! The one writer thread: group commit (everything queued while the
//! previous commit was syncing lands in the next transaction), each job in
//! its own savepoint, completions in commit order.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::mpsc;

use super::{Result, StoreError, run_cached};

/// Most write jobs folded into one transaction.
pub(super) const MAX_BATCH: usize = 512;
/// Queued write jobs before callers wait for room.
pub(super) const WRITE_QUEUE: usize = 4096;

/// A job for the writer thread: runs inside the open transaction and returns
/// the completion to call once the transaction's fate is known.
pub(super) type WriteJob = Box<dyn FnOnce(&Connection) -> Completion + Send>;
pub(super) type Completion = Box<dyn FnOnce(std::result::Result<(), Arc<anyhow::Error>>) + Send>;

pub(super) enum Command {
    Write(WriteJob),
    Close,
}

/// What the writer did, to see how well group commit batches under load.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed (one fsync each).
    pub commits: AtomicU64,
    /// Write jobs carried by those transactions.
    pub jobs: AtomicU64,
    /// Times the idle writer handed its page cache back.
    pub cache_releases: AtomicU64,
}

/// Runs one job in its own savepoint so a failing job (say, a UNIQUE
/// violation) does not undo the others sharing the transaction; the
/// savepoint verbs are prepared once per connection, not per job.
pub(super) fn run_in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    run_cached(conn, "SAVEPOINT job")?;
    let out = std::panic::catch_unwind(AssertUnwindSafe(|| f(conn)))
        .unwrap_or(Err(StoreError::JobPanicked));
    if out.is_err() {
        run_cached(conn, "ROLLBACK TO job")?;
    }
    run_cached(conn, "RELEASE job")?;
    out
}

#[allow(clippy::needless_pass_by_value)] // the thread owns the connection until it exits
pub(super) fn writer_loop(conn: Connection, mut rx: mpsc::Receiver<Command>, stats: &WriterStats) {
    let mut closing = false;
    let mut cached = false;
    while !closing {
        let next = if cached {
            recv_timeout(&mut rx, super::RELEASE_AFTER)
        } else {
            Some(rx.blocking_recv())
        };
        let Some(next) = next else {
            cached = false;
            match conn.release_memory() {
                Ok(()) => {
                    stats.cache_releases.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the database writer could not release its cache")
                }
            }
            continue;
        };
        let Some(first) = next else {
            break;
        };
        cached = true;
        let mut batch = Vec::new();
        match first {
            Command::Write(j) => batch.push(j),
            Command::Close => closing = true,
        }
        while batch.len() < MAX_BATCH && !closing {
            match rx.try_recv() {
                Ok(Command::Write(j)) => batch.push(j),
                Ok(Command::Close) => closing = true,
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let jobs = u64::try_from(batch.len()).unwrap_or(u64::MAX);
            if run_batch(&conn, batch) {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats.jobs.fetch_add(jobs, Ordering::Relaxed);
            }
        }
    }
    // Refuse anything still queued, then fold the WAL back into the main file.
    rx.close();
    while let Ok(Command::Write(j)) = rx.try_recv() {
        drop(j);
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
    }
    tracing::debug!("database writer stopped");
}

/// The next command, `Some(None)` once every sender is gone, or `None`
/// when `wait` passed with nothing sent. tokio's `Receiver` can block a
/// plain thread only without a deadline, so this polls it with a waker
/// that unparks this thread.
fn recv_timeout(rx: &mut mpsc::Receiver<Command>, wait: Duration) -> Option<Option<Command>> {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + wait;
    loop {
        if let Poll::Ready(c) = rx.poll_recv(&mut cx) {
            return Some(c);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::park_timeout(left);
    }
}

/// Runs one transaction; true when it committed.
fn run_batch(conn: &Connection, batch: Vec<WriteJob>) -> bool {
    if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
        // Dropping the jobs drops their reply channels: each caller gets an
        // internal error instead of hanging.
        tracing::error!(error = %e, jobs = batch.len(), "cannot begin write transaction");
        return false;
    }
    let mut completions: Vec<Completion> = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    for job in jobs.by_ref() {
        completions.push(job(conn));
        // SQLite rolls the whole transaction back on some errors (disk full,
        // I/O): the rest must not run outside a transaction, each committing
        // on its own while its caller is told it failed.
        if conn.is_autocommit() {
            tracing::error!("the write transaction was rolled back; failing the rest of the batch");
            break;
        }
    }
    // Jobs never run are dropped with their reply channels: an error each.
    drop(jobs);
    let committed = run_cached(conn, "COMMIT")
        .map_err(|e| Arc::new(anyhow::Error::from(e).context("COMMIT failed")));
    if committed.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let ok = committed.is_ok();
    for done in completions {
        // A panicking `after_commit` must not take the only writer down.
        let result = committed.clone();
        if std::panic::catch_unwind(AssertUnwindSafe(move || done(result))).is_err() {
            tracing::error!("a write completion panicked");
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::super::{RELEASE_AFTER, Store, open_reader};

    /// The writer hands its cache back once idle, and only then: not while
    /// writes keep coming, and not again while it stays idle.
    #[tokio::test]
    async fn an_idle_writer_releases_its_cache_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.db")).unwrap();
        let released = || store.writer_stats().cache_releases.load(Ordering::Relaxed);
        let idle = RELEASE_AFTER * 2 + Duration::from_millis(500);
        // Back-to-back writes: none releases unless the machine stalled
        // past RELEASE_AFTER.
        let start = std::time::Instant::now();
        for _ in 0..5 {
            store.write(|_| Ok(()), |_| {}).await.unwrap();
        }
        if start.elapsed() < RELEASE_AFTER {
            assert_eq!(released(), 0, "released while writes kept coming");
        }
        tokio::time::sleep(idle).await;
        let first = released();
        assert!(first >= 1, "an idle writer kept its cache");
        tokio::time::sleep(idle).await;
        assert_eq!(released(), first, "released again with nothing written");
        store.write(|_| Ok(()), |_| {}).await.unwrap();
        tokio::time::sleep(idle).await;
        assert_eq!(released(), first + 1);
        store.close().await;
    }

    #[tokio::test]
    async fn a_transaction_rolled_back_mid_batch_runs_no_later_job_outside_it() {
        // Arrange: a job holds the writer so the next two share one batch.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let holder = store.clone();
        let hold = tokio::spawn(async move {
            holder
                .write(
                    move |_| {
                        let _ = started_tx.send(());
                        std::thread::sleep(std::time::Duration::from_millis(200));
                        Ok(())
                    },
                    |_| {},
                )
                .await
        });
        tokio::task::spawn_blocking(move || started_rx.recv())
            .await
            .unwrap()
            .unwrap();
        // What SQLite does to the transaction on SQLITE_FULL or an I/O error.
        let rollback = store.write(|c| Ok(c.execute_batch("ROLLBACK")?), |_| {});
        let later = store.write(
            |c| Ok(c.execute_batch("CREATE TABLE probe(x); INSERT INTO probe VALUES (1)")?),
            |_| {},
        );

        // Act
        let (rolled, later) = tokio::join!(rollback, later);

        // Assert: the later job failed and left nothing behind.
        assert!(hold.await.unwrap().is_ok());
        assert!(rolled.is_err());
        assert!(later.is_err());
        let probe: i64 = open_reader(&dir.path().join("t.db"))
            .unwrap()
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'probe'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(probe, 0, "a job ran outside the transaction and committed");
        // The writer still works.
        assert!(store.write(|_| Ok(()), |_| {}).await.is_ok());
        store.close().await;
    }
}
