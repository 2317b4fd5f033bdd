//! All SQL lives here, for two backends behind one [`Store`]:
//!
//! * SQLite (the default, one machine): rusqlite never runs on the async
//!   runtime's threads: reads run on a few reader threads with a read-only
//!   connection each, and every write goes to one dedicated writer thread
//!   that group-commits (everything queued while the previous commit was
//!   syncing lands in the next transaction), so a durable
//!   `synchronous=FULL` commit is shared by many posts.
//! * PostgreSQL (`--database-url`, instances on several machines, SPEC
//!   §11.2): `pg`, async over a connection pool; the same operations with
//!   the same answers, serialised per mailbox by row locks instead of the
//!   single writer.

mod backup;
mod error;
mod handle_cache;
mod handles;
mod mailbox;
mod messages;
mod migrations;
mod nostr_seen;
mod pg;
mod profiles;
mod push_subs;
mod readers;
pub(crate) mod running;
mod seq;
mod sigchains;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

pub use backup::{BACKUP_SEQ_GAP, backup};
pub use error::{Result, StoreError};
pub use handles::HandleRecord;
pub use mailbox::Page;
pub use messages::{
    MailboxLimits, NewMessage, PURGE_CHUNK, PostOutcome, SenderTags, StoredMessage,
};
pub use pg::copy_to_postgres;
pub use profiles::PutProfile;
pub use push_subs::{PushSubscription, SubscribeOutcome};
pub use seq::Seq;
pub use sigchains::{AppendLink, ChainHead, NewLink, StoredLink};
pub use writer::WriterStats;

use writer::{Command, WRITE_QUEUE, WriteJob, run_in_savepoint, writer_loop};

/// How long a database thread (the writer, each reader) waits with
/// nothing to do before it hands its page cache back
/// (`sqlite3_db_release_memory`). An idle server held the caches of its
/// last burst for nothing (up to 2 MB for the writer and 512 KiB per
/// reader; with their allocator's slack, RSS after 10k stream opens closed
/// fell by ~9 MB: issue 14). Short, because a pause costs little: the pages
/// stay in the OS's cache, a reader's cache is dropped by SQLite at its
/// first read after any commit anyway (the WAL changed), and a writer idle
/// this long is far from needing its cache for throughput. At a few writes
/// a second the writer reads its pages back from the OS's cache on each
/// commit (a few µs next to the commit's fsync; not benchmarked).
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_millis(200);

/// Cheap, cloneable handle to the database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    /// Counters of the SQLite writer (all zero on PostgreSQL).
    stats: Arc<WriterStats>,
    /// Registered handles with their parsed keys (see `handle_cache`).
    handle_cache: handle_cache::HandleCache,
}

enum Backend {
    Sqlite(Sqlite),
    Postgres(pg::Pg),
}

struct Sqlite {
    path: PathBuf,
    /// This server's shared hold on `<db>.lock` (see `running`).
    _running: std::fs::File,
    readers: readers::Readers,
    writer: mpsc::Sender<Command>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
}

impl Store {
    /// Opens (creating if missing, mode 0600: it holds the VAPID private
    /// key) and migrates the database, then starts the writer. WARNs when
    /// an existing file is readable by others (its mode is left alone).
    /// Blocking: call it off the async runtime's threads. Errors: the file
    /// cannot be created, opened or migrated.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let running = running::hold(path)?;
        create_private(path)?;
        let mut conn = Connection::open(path)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        configure(&conn)?;
        switch_to_wal(&conn).with_context(|| format!("cannot use database {}", path.display()))?;
        // FULL in WAL mode: each commit is fsync'd, so an acknowledged post
        // survives power loss, not just a process crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrations::apply(&mut conn).context("database migration failed")?;

        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let stats = Arc::new(WriterStats::default());
        let writer_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("kez-db-writer".to_owned())
            .spawn(move || writer_loop(conn, rx, &writer_stats))
            .context("cannot start database writer thread")?;
        let sqlite = Sqlite {
            path: path.to_owned(),
            _running: running,
            readers: readers::Readers::new(path, RELEASE_AFTER),
            writer: tx,
            writer_thread: Mutex::new(Some(thread)),
        };
        Ok(Self::with(Backend::Sqlite(sqlite), stats))
    }
}

/// Opens and migrates the SQLite file at `db`, then closes it (no server
/// may hold it: the caller holds `running::hold_alone`). Blocking.
pub(crate) fn migrate_file(db: &Path) -> anyhow::Result<()> {
    let mut conn =
        Connection::open(db).with_context(|| format!("cannot open database {}", db.display()))?;
    configure(&conn)?;
    migrations::apply(&mut conn).context("database migration failed")
}

impl Store {
    /// Connects to PostgreSQL (SPEC §11.2) with at most `pool` connections
    /// and brings its schema up to date (instances starting together take
    /// turns under an advisory lock). Blocking: call it off the async
    /// runtime's threads, inside a runtime. Errors: the database cannot be
    /// reached, or its schema is newer than this binary's.
    pub fn open_postgres(options: &crate::config::PgOptions) -> anyhow::Result<Self> {
        let handle = tokio::runtime::Handle::try_current()
            .context("opening PostgreSQL needs a tokio runtime")?;
        let stats = Arc::new(WriterStats::default());
        let pg = handle.block_on(pg::Pg::connect(options, stats.clone()))?;
        Ok(Self::with(Backend::Postgres(pg), stats))
    }

    /// The store `config` asks for: PostgreSQL with `--database-url`, else
    /// SQLite at `--db`. Blocking, as both openers.
    pub fn open_configured(config: &crate::config::Config) -> anyhow::Result<Self> {
        match config.postgres()? {
            Some(options) => Self::open_postgres(&options),
            None => Self::open(&config.db),
        }
    }

    fn with(backend: Backend, stats: Arc<WriterStats>) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                stats,
                handle_cache: handle_cache::HandleCache::default(),
            }),
        }
    }

    /// The PostgreSQL backend, when this store is one; each operation
    /// hands itself to it first.
    fn pg(&self) -> Option<&pg::Pg> {
        match &self.inner.backend {
            Backend::Postgres(pg) => Some(pg),
            Backend::Sqlite(_) => None,
        }
    }

    fn sqlite(&self) -> Result<&Sqlite> {
        match &self.inner.backend {
            Backend::Sqlite(s) => Ok(s),
            Backend::Postgres(_) => Err(StoreError::WrongBackend),
        }
    }

    /// Runs `f` on a read-only connection, on a reader thread (see `readers`).
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.sqlite()?.readers.run(f).await
    }

    /// Runs `f` inside the writer's next transaction and resolves once that
    /// transaction is durably committed. `after_commit` runs on the writer
    /// thread right after the commit, in commit order (used to publish to
    /// live streams without reordering).
    pub async fn write<T, F, A>(&self, f: F, after_commit: A) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let span = tracing::Span::current();
        let job: WriteJob = Box::new(move |conn| {
            let _g = span.enter();
            let out = run_in_savepoint(conn, f);
            Box::new(move |committed| {
                let out = match (out, committed) {
                    (Ok(v), Ok(())) => {
                        after_commit(&v);
                        Ok(v)
                    }
                    (Ok(_), Err(e)) => Err(StoreError::CommitFailed(e)),
                    (Err(e), _) => Err(e),
                };
                let _ = tx.send(out);
            })
        });
        self.sqlite()?
            .writer
            .send(Command::Write(job))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::JobDropped)?
    }

    /// Reads run on the reader threads so far (`/metrics` `kez_db_reads_total`).
    pub fn reads(&self) -> u64 {
        match &self.inner.backend {
            Backend::Sqlite(s) => s.readers.reads(),
            Backend::Postgres(pg) => pg.reads(),
        }
    }

    /// Counters of the writer thread.
    pub fn writer_stats(&self) -> &WriterStats {
        &self.inner.stats
    }

    /// Flushes and stops the writer; later writes fail. Safe to call more than once.
    pub async fn close(&self) {
        let sqlite = match &self.inner.backend {
            Backend::Sqlite(s) => s,
            Backend::Postgres(pg) => return pg.close(),
        };
        let _ = sqlite.writer.send(Command::Close).await;
        let thread = sqlite.writer_thread.lock().take();
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// Creates the database file empty with mode 0600 if it is missing (SQLite
/// gives its `-wal` and `-shm` files the main file's mode), or WARNs when
/// the existing file lets others than its owner read or write it. No-op off
/// unix.
fn create_private(path: &Path) -> anyhow::Result<()> {
    let created = crate::private_file::options()
        .write(true)
        .create_new(true)
        .open(path);
    match created {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if path.is_file() && crate::private_file::too_open(path) {
                tracing::warn!(
                    path = %path.display(),
                    "the database file is readable by others than its owner and holds the \
                     VAPID private key; chmod 600 it and its -wal and -shm files"
                );
            }
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot open database {}", path.display()));
        }
    }
    Ok(())
}

/// Turns on WAL. Switching takes an exclusive lock and SQLite does not wait
/// on the busy timeout for it, so instances starting together on a fresh
/// file (SPEC §11) retry for a while instead of failing.
fn switch_to_wal(conn: &Connection) -> rusqlite::Result<()> {
    let mut tries = 0;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && tries < 200 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            other => return other,
        }
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Room for every hot statement, so none is evicted and parsed again.
    conn.set_prepared_statement_cache_capacity(64);
    // The query planner stability guarantee: without it a bound `LIMIT ?`
    // marks the statement as depending on that value, so every rebind
    // (each call) parses and plans it again (`sqlite3Reprepare`: a third
    // of a reader's time on a stream open, issue 14). Our statements have
    // one good plan whatever the values.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    conn.pragma_update(None, "cache_size", -readers::CACHE_KIB)?;
    Ok(conn)
}

/// Runs one parameterless statement through the connection's statement cache.
pub(super) fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs `f` in one read transaction, so its statements see one snapshot.
/// BEGIN and COMMIT come from the statement cache: rusqlite's `Transaction`
/// parses them on every call (issue 14: the parser showed on every stream
/// open). Rolled back on an error or a panic, so the connection stays usable.
pub(crate) fn in_snapshot<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    /// Rolls the transaction back unless it was committed.
    struct Open<'c>(&'c Connection, bool);
    impl Drop for Open<'_> {
        fn drop(&mut self) {
            if !self.1
                && let Err(e) = run_cached(self.0, "ROLLBACK")
            {
                tracing::error!(error = %e, "cannot roll back a read snapshot");
            }
        }
    }
    run_cached(conn, "BEGIN")?;
    let mut open = Open(conn, false);
    let out = f(conn)?;
    run_cached(conn, "COMMIT")?;
    open.1 = true;
    Ok(out)
}

/// Current time as unix seconds.
pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests;
