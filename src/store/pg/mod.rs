//! The PostgreSQL backend (`--database-url`, SPEC §11.2): the SQLite
//! store's operations with the same answers, for instances on several
//! machines sharing one database. Async over a bounded pool; what the
//! SQLite writer serialises (a mailbox's seqs and quotas, a chain's head)
//! is serialised here by row locks taken first in every transaction that
//! writes them, always in the same order (a mailbox, then its senders), so
//! instances never deadlock each other.

mod handles;
mod import;
mod messages;
mod nostr_seen;
mod push;
mod schema;
mod sigchains;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Transaction,
};
use tokio_postgres::error::SqlState;

use super::{Result, StoreError, WriterStats};
use crate::config::PgOptions;

pub use import::copy_to_postgres;

/// How long a request waits for a pooled connection, or for a new one to
/// be made, before it fails (`StoreError::Pool`: 503 `database_unavailable`).
const POOL_WAIT: Duration = Duration::from_secs(5);

/// What each session is told, so one stalled instance (a paused VM, a
/// network cut mid-transaction) holds a lock, and the other instances'
/// pooled connections waiting on it, for seconds, not until TCP gives up
/// (hours): a lock waited for longer fails (55P03; shorter than
/// [`POOL_WAIT`], so waiters do not fill the pool for everyone else), a
/// transaction idle longer is ended by the server (its locks go with it), a
/// statement running longer is cancelled (57014); each answers 503. Posts,
/// releases and purges hold mailbox locks within one statement anyway.
/// Options in the URL come after these, so an operator's own win.
const SESSION_OPTIONS: &str = "-c lock_timeout=2s -c idle_in_transaction_session_timeout=10s \
     -c statement_timeout=20s";

/// How long sent data may stay unacknowledged, and a connection idle
/// before keepalives probe it: a database that vanished from the network
/// is noticed within seconds.
const TCP_DEAD_AFTER: Duration = Duration::from_secs(10);

/// Tries of a transaction that PostgreSQL aborted to break a deadlock or a
/// serialisation conflict; the next try sees the winner's commit.
const RETRIES: usize = 3;

/// A pool of connections to one PostgreSQL database.
pub(super) struct Pg {
    pool: Pool,
    reads: AtomicU64,
    /// Write transactions committed, for `/metrics` as the SQLite writer's.
    stats: Arc<WriterStats>,
}

impl Pg {
    /// Connects (at most `max` connections) and migrates. Errors: the
    /// database cannot be reached or its schema is newer than ours.
    pub(super) async fn connect(
        options: &PgOptions,
        stats: Arc<WriterStats>,
    ) -> anyhow::Result<Self> {
        let mut config = options.connect.clone();
        // Named in pg_stat_activity, so an operator sees whose connections these are.
        config.application_name("kez-chat-server");
        let session = match config.get_options() {
            Some(given) => format!("{SESSION_OPTIONS} {given}"),
            None => SESSION_OPTIONS.to_owned(),
        };
        config
            .options(session)
            .keepalives(true)
            .keepalives_idle(TCP_DEAD_AFTER)
            .keepalives_interval(Duration::from_secs(2))
            .keepalives_retries(3)
            .tcp_user_timeout(TCP_DEAD_AFTER);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_WAIT);
        }
        let manager = Manager::from_config(
            config,
            tls::connector(options.ca_file.as_deref())?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool.max(1))
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .runtime(Runtime::Tokio1)
            .build()
            .context("cannot build the PostgreSQL pool")?;
        let pg = Self {
            pool,
            reads: AtomicU64::new(0),
            stats,
        };
        let mut client = pg
            .pool
            .get()
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL: {}", causes(&e)))?;
        schema::migrate(&mut client).await.context(
            "cannot bring the PostgreSQL schema up to date (the role must own the database, \
             or may CREATE in its public schema)",
        )?;
        Ok(pg)
    }

    /// A pooled connection.
    async fn client(&self) -> Result<Object> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Pool(e.to_string()))
    }

    /// A pooled connection for a read, counted (`kez_db_reads_total`).
    async fn reader(&self) -> Result<Object> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.client().await
    }

    /// Commits `tx` and counts it (a full disk: `StorageFull`).
    async fn commit(&self, tx: Transaction<'_>) -> Result<()> {
        tx.commit().await.map_err(refuse_full)?;
        self.wrote();
        Ok(())
    }

    /// Counts a write committed on its own (outside `commit`).
    fn wrote(&self) {
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        self.stats.jobs.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads so far.
    pub(super) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Closes the pool: idle connections go at once, busy ones when returned.
    pub(super) fn close(&self) {
        self.pool.close();
    }
}

/// An error with its causes, as far as they go (deadpool's own sentence
/// says only "error performing TLS handshake" or "db error"; the cause says
/// which certificate or which password). No cause holds the connection
/// string: tokio-postgres errors never quote it.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        next = cause.source();
    }
    text
}

/// Whether PostgreSQL aborted the transaction only to let another go
/// first (deadlock, serialisation failure): worth one more try.
fn is_retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Postgres(pe) if pe.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    }))
}

/// The store's refusal for a full disk (SQLSTATE 53100) or an error as is,
/// so a full database disk gives `storage_full` (507) as the disk guard
/// does on SQLite.
fn refuse_full(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::DISK_FULL) {
        StoreError::StorageFull
    } else {
        StoreError::Postgres(e)
    }
}

/// Whether `e` broke the unique constraint named `constraint`.
fn violates(e: &tokio_postgres::Error, constraint: &str) -> bool {
    e.as_db_error().is_some_and(|d| {
        *d.code() == SqlState::UNIQUE_VIOLATION && d.constraint() == Some(constraint)
    })
}

/// Runs `f` up to [`RETRIES`] times while PostgreSQL aborts it to break a
/// deadlock or a serialisation conflict.
async fn retrying<T, F, Fut>(mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        match f().await {
            Err(e) if tries + 1 < RETRIES && is_retryable(&e) => tries += 1,
            other => return other,
        }
    }
}

/// `u64` counters and sizes as PostgreSQL's BIGINT (saturating: a count
/// past `i64::MAX` cannot happen under any quota).
fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A BIGINT column that holds a count or a seq, refused when negative.
fn count(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative count {n} stored")))
}

/// A length or limit as BIGINT (saturating, as [`big`]).
fn big_len(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
