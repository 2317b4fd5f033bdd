//! Free-disk guard: below `--min-free-disk-mb` on the database's file
//! system, every request that adds stored data (posts, registrations,
//! profiles, sigchain links, push subscriptions; `AppState::check_room`)
//! is refused with `507 storage_full` instead of filling the disk until
//! SQLite fails (mailbox quotas bound each handle, not their sum).
//! Deletions, retention and reads go on, so space comes back.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often free space is measured.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Shared, cheap to clone; `low()` is a relaxed load on the request path.
#[derive(Clone)]
pub struct DiskGuard {
    dir: PathBuf,
    min_free: u64,
    low: Arc<AtomicBool>,
}

impl DiskGuard {
    /// Watches the file system holding `db`; `min_free_mb == 0` disables it.
    /// Measures once now, so the first request already sees the truth.
    pub fn new(db: &Path, min_free_mb: u64) -> Self {
        let dir = match db.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let guard = Self {
            dir,
            min_free: min_free_mb.saturating_mul(1024 * 1024),
            low: Arc::default(),
        };
        guard.measure();
        guard
    }

    /// True while free space is under the minimum.
    pub fn low(&self) -> bool {
        self.low.load(Ordering::Relaxed)
    }

    /// Re-reads free space (a `statvfs`; blocking but brief). A failed
    /// measurement keeps the last verdict.
    pub fn measure(&self) {
        if self.min_free == 0 {
            return;
        }
        let Ok(st) = rustix::fs::statvfs(&self.dir) else {
            return;
        };
        let free = st.f_bavail.saturating_mul(st.f_frsize);
        let low = free < self.min_free;
        if self.low.swap(low, Ordering::Relaxed) != low {
            if low {
                tracing::warn!(
                    free_mb = free >> 20,
                    "disk almost full; refusing new stored data"
                );
            } else {
                tracing::info!(
                    free_mb = free >> 20,
                    "disk space recovered; accepting new stored data"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        assert!(!DiskGuard::new(&db, 0).low(), "0 disables the guard");
        assert!(
            !DiskGuard::new(&db, 1).low(),
            "a test machine has 1 MiB free"
        );
        assert!(DiskGuard::new(&db, u64::MAX >> 20).low());
        assert!(
            !DiskGuard::new(Path::new("kez.db"), 1).low(),
            "a bare file name means the working directory"
        );
    }
}
