//! Who has a SQLite database open: every server holds a shared lock on
//! `<db>.lock` while it runs (instances sharing the file, SPEC §11, all
//! do), and `--copy-to-postgres` takes it exclusively, so a copy never
//! runs beside a server that goes on taking posts the copy will not have
//! (SPEC §11.2). A file of its own: a second descriptor on the database
//! itself, once closed, would drop SQLite's own POSIX locks of this
//! process. `flock` locks go with the process, so a killed server leaves
//! none behind.

use std::fs::{File, TryLockError};
use std::path::Path;

use anyhow::Context;

use crate::private_file;

/// `<db>.lock`, created 0600 if missing.
fn open_lock(db: &Path) -> anyhow::Result<File> {
    let path = private_file::sibling(db, ".lock");
    let mut options = private_file::options();
    options.create(true).truncate(false).write(true);
    options.open(&path).with_context(|| {
        format!(
            "cannot open database {}: cannot create its lock file {}",
            db.display(),
            path.display()
        )
    })
}

/// A server's hold on `db` (released when dropped). Errors: a copy to
/// PostgreSQL holds the database now.
pub(super) fn hold(db: &Path) -> anyhow::Result<File> {
    let file = open_lock(db)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "{} is being copied to PostgreSQL (--copy-to-postgres); start the servers on \
             PostgreSQL once it is done",
            db.display()
        ),
        Err(TryLockError::Error(e)) => Err(e).context("cannot lock the database's .lock file"),
    }
}

/// The copy's hold on `db`, only when no server has it open. Errors: one
/// does (stop every instance first).
pub(super) fn hold_alone(db: &Path) -> anyhow::Result<File> {
    let file = open_lock(db)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "a server is running on {}: stop every instance before copying it, or posts it \
             takes meanwhile would be lost",
            db.display()
        ),
        Err(TryLockError::Error(e)) => Err(e).context("cannot lock the database's .lock file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_share_the_database_and_a_copy_waits_for_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.db");
        let a = hold(&db).unwrap();
        let b = hold(&db).unwrap();
        assert!(hold_alone(&db).is_err());
        drop(a);
        assert!(hold_alone(&db).is_err(), "one server still runs");
        drop(b);
        let copy = hold_alone(&db).unwrap();
        assert!(hold(&db).is_err(), "no server starts during a copy");
        drop(copy);
        hold(&db).unwrap();
    }
}
