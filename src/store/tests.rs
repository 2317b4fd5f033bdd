//! The store's own tests: opening, snapshots, file modes.

use std::panic::AssertUnwindSafe;

use super::*;

#[test]
fn instances_opening_one_fresh_file_together_all_start() {
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fresh.db");
        let opened: Vec<anyhow::Result<Store>> = std::thread::scope(|s| {
            let starts: Vec<_> = (0..6).map(|_| s.spawn(|| Store::open(&path))).collect();
            starts.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for store in opened {
            store.unwrap();
        }
    }
}

#[test]
fn a_snapshot_that_fails_or_panics_leaves_the_connection_usable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(Store::open(&path).unwrap());
    let conn = open_reader(&path).unwrap();
    let failed = in_snapshot(&conn, |_| -> Result<()> { Err(StoreError::ReaderGone) });
    assert!(failed.is_err());
    let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| {
        in_snapshot(&conn, |_| -> Result<()> { panic!("boom") })
    }));
    assert!(panicked.is_err());
    assert!(conn.is_autocommit(), "a transaction was left open");
    let one = in_snapshot(&conn, |c| {
        Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)
    });
    assert_eq!(one.unwrap(), 1);
}

#[cfg(unix)]
#[test]
fn a_new_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    let store = Store::open(&path).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("private.db-wal")), 0o600);
    assert_eq!(mode(&dir.path().join("private.db-shm")), 0o600);
    drop(store);
    // An operator's wider mode is left as it is (and warned about).
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    drop(Store::open(&path).unwrap());
    assert_eq!(mode(&path), 0o640);
}
