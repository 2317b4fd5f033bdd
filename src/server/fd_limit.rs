//! Open files: raise the soft `RLIMIT_NOFILE` toward the hard limit at
//! start, keep the connection cap below what it leaves, and report accept
//! failures (`EMFILE` and friends) without flooding the log.

use std::time::{Duration, Instant};

/// File descriptors kept free for everything that is not an incoming
/// connection: the database (file, WAL, shared memory, one per reader),
/// listeners, the runtime's own, outbound pushes (up to
/// `push::MAX_CONCURRENT_PUSHES` at once), NATS and metrics scrapes.
pub const RESERVED_FDS: u64 =
    64 + crate::push::MAX_CONCURRENT_PUSHES as u64 + crate::metrics::MAX_CONNECTIONS as u64;

/// The highest soft open-file limit asked for: Linux's default `fs.nr_open`.
const RAISE_AT_MOST: u64 = 1 << 20;

/// Raises the soft open-file limit to the hard one (at most 2^20; best effort) and
/// returns the soft limit now in force; `None` when unlimited or unknown.
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let before = getrlimit(Resource::Nofile);
        // An unlimited (or huge) hard limit is still capped by the kernel
        // (`fs.nr_open`, 2^20 by default), so aim no higher.
        let target = before
            .maximum
            .map_or(RAISE_AT_MOST, |m| m.min(RAISE_AT_MOST));
        if before.current.is_some_and(|current| current < target) {
            let raised = Rlimit {
                current: Some(target),
                maximum: before.maximum,
            };
            if let Err(e) = setrlimit(Resource::Nofile, raised) {
                tracing::warn!(error = %e, "cannot raise the open-file limit");
            }
        }
        getrlimit(Resource::Nofile).current
    }
    #[cfg(not(unix))]
    None
}

/// The connection cap to use: `configured`, lowered so that connections
/// plus [`RESERVED_FDS`] fit in `open_files` (at least half of it stays
/// for connections when the limit is tiny); never below 1.
pub fn effective_max_connections(configured: usize, open_files: Option<u64>) -> usize {
    let Some(limit) = open_files else {
        return configured.max(1);
    };
    let room = limit.saturating_sub(RESERVED_FDS.min(limit / 2));
    usize::try_from(room)
        .map_or(configured, |room| configured.min(room))
        .max(1)
}

/// At most one "accept failed" warning per [`AcceptErrors::EVERY`], with
/// the count of failures since the last one.
#[derive(Debug, Default)]
pub struct AcceptErrors {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    /// The shortest time between two warnings.
    pub const EVERY: Duration = Duration::from_secs(10);

    /// Counts a failure at `now`; returns how many failures (this one
    /// included) the warning to write now covers, or `None` to stay quiet.
    pub fn record(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        let due = self
            .last_logged
            .is_none_or(|last| now.saturating_duration_since(last) >= Self::EVERY);
        due.then(|| {
            self.last_logged = Some(now);
            std::mem::take(&mut self.unlogged)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_other_files() {
        assert_eq!(effective_max_connections(10_000, None), 10_000);
        assert_eq!(
            effective_max_connections(10_000, Some(1024)),
            usize::try_from(1024 - RESERVED_FDS).unwrap()
        );
        assert_eq!(effective_max_connections(100, Some(1_048_576)), 100);
        assert_eq!(effective_max_connections(10_000, Some(64)), 32);
        assert_eq!(effective_max_connections(10_000, Some(1)), 1);
        assert_eq!(effective_max_connections(0, None), 1);
    }

    #[test]
    fn accept_failures_are_logged_at_most_once_per_period_with_a_count() {
        let mut errors = AcceptErrors::default();
        let t0 = Instant::now();
        assert_eq!(errors.record(t0), Some(1));
        for ms in [50, 100, 5_000] {
            assert_eq!(errors.record(t0 + Duration::from_millis(ms)), None);
        }
        assert_eq!(errors.record(t0 + AcceptErrors::EVERY), Some(4));
        assert_eq!(errors.record(t0 + AcceptErrors::EVERY), None);
    }
}
