//! Server-wide values kept in the `meta` table (migration 5).

use rusqlite::{Connection, OptionalExtension, params};

use super::Store;

/// The `meta` key of the salt that keys senders' hashes (SPEC §7.5).
const SENDER_SALT: &str = "sender_salt";

impl Store {
    /// The database's random 16-byte salt for senders' hashes (SPEC §7.5):
    /// created once with the database, so it survives restarts and is the
    /// same for every instance sharing the file.
    pub fn sender_salt(&self) -> [u8; 16] {
        self.inner.sender_salt
    }
}

/// Reads the sender salt, creating it first if the database has none.
/// `OR IGNORE`: if another instance won the race, its salt is the one kept.
pub(super) fn load_sender_salt(conn: &Connection) -> anyhow::Result<[u8; 16]> {
    let mut fresh = [0u8; 16];
    getrandom::fill(&mut fresh)
        .map_err(|e| anyhow::anyhow!("the OS random number generator is unavailable: {e}"))?;
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
        params![SENDER_SALT, fresh.as_slice()],
    )?;
    let stored: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [SENDER_SALT],
            |r| r.get(0),
        )
        .optional()?;
    let stored = stored.ok_or_else(|| anyhow::anyhow!("sender salt missing right after insert"))?;
    <[u8; 16]>::try_from(stored.as_slice())
        .map_err(|_| anyhow::anyhow!("the stored sender salt is not 16 bytes"))
}
