//! The machine's floor under issue 14's "CPU per message at 100 msg/s": a
//! bare SQLite commit of one message-sized row, durable as the server's
//! (WAL, `synchronous=FULL`, an fsync per commit), paced like the bench's
//! posts. No HTTP, no signature, no JSON, no fan-out: whatever the server
//! spends above this is its own; below it no server on this disk can go.

use std::path::Path;
use std::time::Duration;

/// CPU nanoseconds this thread has run (user + system), from
/// `/proc/thread-self/schedstat`'s first field: nanosecond resolution,
/// where `/proc/<pid>/stat` counts 10 ms ticks.
fn thread_cpu_ns() -> anyhow::Result<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let first = s.split_whitespace().next().unwrap_or_default();
    Ok(first.parse()?)
}

/// Commits `n` rows of `row_bytes` each, one transaction per row, one every
/// `pace`, into a fresh file in `dir` shaped like `messages` (rowid table,
/// two unique keys, an age index); returns CPU µs per commit. Blocking: run
/// it on a blocking thread.
pub(crate) fn sqlite_commit_floor(
    dir: &Path,
    n: usize,
    row_bytes: usize,
    pace: Duration,
) -> anyhow::Result<f64> {
    let conn = rusqlite::Connection::open(dir.join("floor.db"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE m (recipient TEXT NOT NULL, seq INTEGER NOT NULL, client_id TEXT NOT NULL,
             received_at INTEGER NOT NULL, envelope TEXT NOT NULL,
             UNIQUE (recipient, seq), UNIQUE (recipient, client_id)) STRICT;
         CREATE INDEX m_by_age ON m(received_at);",
    )?;
    let body = "x".repeat(row_bytes);
    let cpu0 = thread_cpu_ns()?;
    for i in 0..n {
        std::thread::sleep(pace);
        let seq = i64::try_from(i)?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        conn.prepare_cached("INSERT INTO m VALUES ('alice', ?1, ?2, ?1, ?3)")?
            .execute(rusqlite::params![seq, format!("floor-{i:012}"), body])?;
        conn.execute_batch("COMMIT")?;
    }
    let cpu = thread_cpu_ns()? - cpu0;
    #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    Ok(cpu as f64 / 1e3 / n as f64)
}

/// The floor under any durable design, not only SQLite's: `n` appends of
/// `bytes` each to a plain file, each followed by `fdatasync`, one every
/// `pace`, on the same disk; returns CPU µs per append (write + sync).
/// What a log of our own in front of the database would pay per message at
/// 100 msg/s, before any HTTP, crypto, fan-out or index. Blocking.
pub(crate) fn append_fdatasync_floor(
    dir: &Path,
    n: usize,
    bytes: usize,
    pace: Duration,
) -> anyhow::Result<f64> {
    use std::io::Write as _;
    let path = dir.join("floor.log");
    let mut file = std::fs::File::create(&path)?;
    let record = vec![b'x'; bytes];
    let cpu0 = thread_cpu_ns()?;
    for _ in 0..n {
        std::thread::sleep(pace);
        file.write_all(&record)?;
        file.sync_data()?;
    }
    let cpu = thread_cpu_ns()? - cpu0;
    std::fs::remove_file(path)?;
    #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    Ok(cpu as f64 / 1e3 / n as f64)
}
