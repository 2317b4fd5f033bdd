//! What the store can refuse or fail with. The store decides *what* went
//! wrong; the HTTP layer (`AppError`'s `From<StoreError>`) picks the status.
//! The first five variants are the client's doing and their `Display` is the
//! sentence shown to it; the rest are internal and only logged.

use std::sync::Arc;

/// Store result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Every way a store call can end without its value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Registration: another key already holds the handle (`handles.handle` UNIQUE).
    #[error("this handle is already taken")]
    HandleTaken,
    /// Registration: the key already has a handle (`handles.primary_key` UNIQUE).
    #[error("this key already has a handle on this server")]
    PrimaryTaken,
    /// A post to a handle that has no mailbox.
    #[error("no such handle on this server")]
    UnknownRecipient,
    /// A new message would go over the recipient's message count or byte quota.
    #[error("the recipient's mailbox is full; try again later")]
    MailboxFull,
    /// The disk guard says the disk is almost full; no new messages for now.
    #[error("this server is out of disk space; try again later")]
    StorageFull,
    /// A stored value no longer parses (e.g. an envelope that is not JSON).
    #[error("{0}")]
    Corrupt(String),
    /// The writer thread stopped before taking the job.
    #[error("database writer has stopped")]
    WriterGone,
    /// The writer dropped the job without an answer (its transaction could not begin,
    /// or was rolled back before the job ran).
    #[error("database writer dropped a job")]
    JobDropped,
    /// A job's closure panicked (a write's savepoint was rolled back).
    #[error("database job panicked")]
    JobPanicked,
    /// The transaction holding the job did not commit.
    #[error("commit failed: {0:#}")]
    CommitFailed(Arc<anyhow::Error>),
    /// No reader thread could be started, or one stopped with a job.
    #[error("database reader has stopped")]
    ReaderGone,
    /// Any other SQLite error.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// Any other PostgreSQL error: its SQLSTATE and message, never the
    /// DETAIL (which quotes key values: handles).
    #[error("{}", pg_text(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had from the pool in time.
    #[error("no database connection: {0}")]
    Pool(String),
    /// A SQLite-only operation asked of a PostgreSQL store (a bug).
    #[error("not available on this database backend")]
    WrongBackend,
}

impl StoreError {
    /// The database cannot serve us now, though nothing is wrong with the
    /// request: no pooled connection in time, a broken connection (class
    /// 08), a server shutting down (57P), out of connections or memory
    /// (53, but a full disk, which is `StorageFull`), read-only after a
    /// failover (25006), a lock or statement timeout (55P03, 57014), or a
    /// deadlock or conflict still there after the retries (40P01, 40001).
    /// Worth a retry (503), not a bug.
    pub fn is_unreachable(&self) -> bool {
        const TRANSIENT: [&str; 6] = ["25006", "55P03", "57014", "40P01", "40001", "53300"];
        match self {
            Self::Pool(_) => true,
            Self::Postgres(e) => {
                e.is_closed()
                    || e.code().is_some_and(|c| {
                        let code = c.code();
                        code.starts_with("08")
                            || code.starts_with("57P")
                            || (code.starts_with("53") && code != "53100")
                            || TRANSIENT.contains(&code)
                    })
            }
            _ => false,
        }
    }
}

/// A PostgreSQL error for the log: `SQLSTATE <code>: <message>` from the
/// server, else the driver's sentence with its cause.
fn pg_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("SQLSTATE {}: {}", db.code().code(), db.message()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}
