//! `--backup-to`: a consistent copy of the database whose seqs are raised,
//! so a server restored from it never reuses one (SPEC §7.5).

use std::path::Path;

use anyhow::Context;
use rusqlite::{Connection, params};

use super::{Result, StoreError, open_reader};

/// Writes a consistent snapshot of the database at `db` to `dest` (which
/// must not exist) with `VACUUM INTO`; readers and a running writer are not
/// blocked, and the copy is a plain, compact SQLite file. In the copy every
/// mailbox's next seq is raised by [`BACKUP_SEQ_GAP`], so a server restored
/// from it never reuses a seq its clients already saw (SPEC §7.5).
pub fn backup(db: &Path, dest: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(!dest.exists(), "{} already exists", dest.display());
    let conn = open_reader(db)
        .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", db.display()))?;
    let dest = dest
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("backup path must be valid UTF-8"))?;
    conn.execute("VACUUM INTO ?1", rusqlite::params![dest])
        .with_context(|| format!("backup to {dest} failed"))?;
    let raised = Connection::open(dest)
        .map_err(StoreError::from)
        .and_then(|copy| raise_seq_floor(&copy));
    if let Err(e) = raised {
        // A copy without the floor would reuse seqs when restored: none at all.
        let _ = std::fs::remove_file(dest);
        anyhow::bail!("cannot raise the seqs in the copy {dest}: {e}");
    }
    Ok(())
}

/// Added to every mailbox's `last_seq` in a `--backup-to` copy: a server
/// restored from it numbers new messages above any seq its clients saw
/// after the backup was taken (unless one mailbox got this many messages
/// in between). Stays far below 2^53, so seqs remain exact in JavaScript.
pub const BACKUP_SEQ_GAP: u64 = 1_000_000_000;

/// Moves every mailbox's next seq [`BACKUP_SEQ_GAP`] ahead, in the copy.
fn raise_seq_floor(conn: &Connection) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE mailboxes SET last_seq = last_seq + ?1",
        params![BACKUP_SEQ_GAP],
    )?)
}
