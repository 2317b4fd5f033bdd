//! Sender keys (SPEC §7.5): the keys that turn a sender's network into the
//! tag stored with its messages and counted toward its share of a mailbox.
//!
//! They live in a small ring file beside the database (`--sender-key-file`,
//! default `<db>.sender-keys`), never in it, so a copy of the database or of
//! a `--backup-to` file does not give back who posted: a tag is an HMAC
//! under a key the copy lacks. One key per epoch (unix day); the current
//! epoch's makes the tags of new posts, and older ones are kept while
//! messages stored under them may still be live, so a sender's share holds
//! across a rotation (and across a clock jump: see [`KeyRing::rotation`]). Instances sharing one database share the ring file: a rotation
//! takes `<ring>.lock`, and every instance re-reads the file when it
//! changed, so they converge on the same keys within [`CHECK_EVERY`].
//!
//! The post path reads the ring from memory only; the file is touched at
//! start-up ([`SenderKeys::open`]) and by the supervised check
//! ([`SenderKeys::check`]), both on blocking threads.

mod file;
mod ring;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

pub use ring::{EPOCH_SECS, KeyRing, Malformed, Rotation, epoch_of};

use crate::store::SenderTags;

/// How often the supervised task checks the ring (rotation, other
/// instances' changes).
pub const CHECK_EVERY: Duration = Duration::from_secs(60);

/// Shared handle on the ring in memory and the file behind it.
#[derive(Clone)]
pub struct SenderKeys {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    retention_secs: u64,
    /// Added to the clock's unix seconds (tests move "today").
    clock_offset_secs: i64,
    loaded: RwLock<Loaded>,
}

struct Loaded {
    ring: Arc<KeyRing>,
    /// The file version `ring` came from; `None` before the first read.
    stamp: Option<file::Stamp>,
}

impl SenderKeys {
    /// Loads the ring at `path`, creating it (one fresh key, mode 0600) if
    /// missing, and rotates it if due. `retention_secs` is the messages'
    /// retention (`--retention-hours` × 3600); `day_offset` shifts the
    /// clock by whole days (0 but in tests). Blocking file I/O.
    /// Errors: the file is unreadable or malformed (empty, not the ring's
    /// JSON: the message says it may be deleted to start a fresh ring, at
    /// the cost of every sender's share), or cannot be written.
    /// Warns (and goes on) when its mode lets others read it.
    pub fn open(path: PathBuf, retention_secs: u64, day_offset: i64) -> anyhow::Result<Self> {
        let keys = Self {
            inner: Arc::new(Inner {
                path,
                retention_secs,
                clock_offset_secs: day_offset.saturating_mul(EPOCH_SECS),
                loaded: RwLock::new(Loaded {
                    ring: Arc::default(),
                    stamp: None,
                }),
            }),
        };
        keys.check().map_err(|e| {
            let hint = if is_malformed(&e) {
                " (if it cannot be repaired, delete it to start a fresh ring: \
                 every sender's share then starts from zero)"
            } else {
                ""
            };
            e.context(format!("sender key ring {}{hint}", keys.path().display()))
        })?;
        if crate::private_file::too_open(keys.path()) {
            tracing::warn!(
                path = %keys.path().display(),
                "the sender key ring is readable by others than its owner; chmod 600 it"
            );
        }
        Ok(keys)
    }

    /// The ring file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The ring in memory (no I/O).
    pub fn ring(&self) -> Arc<KeyRing> {
        self.inner.loaded.read().ring.clone()
    }

    /// The tags of a sender's network (`rate_limit::network_key(ip)` as
    /// text) under the ring in memory, now: see [`KeyRing::tags`]. No I/O.
    pub fn tags(&self, network: &str) -> SenderTags {
        self.ring().tags(network, self.now())
    }

    /// One check, blocking file I/O: re-reads the file if it changed since
    /// it was last read or written here, then rotates it if due (the
    /// current epoch has no key, an old key should go, or the file is
    /// missing) under `<ring>.lock`. A file replaced by one that lacks or
    /// changed the key of a live epoch is taken, with a WARN (the shares
    /// counted under that key start from zero). A file that became
    /// malformed while running is written again from the ring in memory,
    /// with one WARN. Errors: the file cannot be read or written, or is
    /// malformed at the first read; the ring in memory stays as it was.
    pub fn check(&self) -> anyhow::Result<()> {
        let path = self.path();
        let on_disk = file::stamp(path)?;
        let known = self.inner.loaded.read().stamp;
        if on_disk.is_some() && on_disk != known {
            match file::read(path) {
                Ok(Some((ring, stamp))) => {
                    if known.is_some() {
                        self.log_reload(&ring);
                    }
                    self.install(ring, stamp);
                }
                // Gone since the stat: the next check writes it again.
                Ok(None) => {}
                // Repaired under the lock, from memory.
                Err(e) if known.is_some() && is_malformed(&e) => return self.rotate(),
                Err(e) => return Err(e),
            }
        }
        let due = on_disk.is_none() || self.ring().rotated(self.now(), self.retention()).is_some();
        if due { self.rotate() } else { Ok(()) }
    }

    /// Logs a ring reloaded from disk: INFO, or WARN when the keys of live
    /// epochs disappeared or changed (their senders' shares reset).
    fn log_reload(&self, next: &KeyRing) {
        let lost = self
            .ring()
            .live_keys_lost_in(next, self.now(), self.retention());
        if lost.is_empty() {
            tracing::info!(epochs = ?next.epochs(), "sender key ring changed on disk; reloaded");
        } else {
            tracing::warn!(
                epochs = ?next.epochs(),
                lost = ?lost,
                "sender key ring replaced on disk without the keys of live epochs; \
                 reloaded: senders' shares counted under those keys start from zero"
            );
        }
    }

    /// Rotates under the lock, from the file as it is now (another
    /// instance may have just rotated it) or, if it is missing or became
    /// malformed since a good read, from the ring in memory, and writes the
    /// result if it differs from the file.
    fn rotate(&self) -> anyhow::Result<()> {
        let path = self.path();
        let _lock = file::lock(path)?;
        let (base, on_disk) = match file::read(path) {
            Ok(Some((ring, stamp))) => (ring, Some(stamp)),
            Ok(None) => ((*self.ring()).clone(), None),
            Err(e) if self.inner.loaded.read().stamp.is_some() && is_malformed(&e) => {
                let error = format!("{e:#}");
                tracing::warn!(
                    %error,
                    "the sender key ring on disk became malformed; writing it again from the keys in memory"
                );
                ((*self.ring()).clone(), None)
            }
            Err(e) => return Err(e),
        };
        let now = self.now();
        let rotation = base.rotation(now, self.retention());
        log_drops(&rotation, now);
        match (rotation.ring == base, on_disk) {
            (true, Some(stamp)) => self.install(base, stamp),
            _ => {
                let ring = rotation.ring;
                let stamp = file::write_atomic(path, &ring)?;
                tracing::info!(epochs = ?ring.epochs(), path = %path.display(), "sender key ring written");
                self.install(ring, stamp);
            }
        }
        Ok(())
    }

    fn install(&self, ring: KeyRing, stamp: file::Stamp) {
        *self.inner.loaded.write() = Loaded {
            ring: Arc::new(ring),
            stamp: Some(stamp),
        };
    }

    fn now(&self) -> i64 {
        crate::store::unix_now().saturating_add(self.inner.clock_offset_secs)
    }

    fn retention(&self) -> u64 {
        self.inner.retention_secs
    }
}

/// Whether `e` is (caused by) a [`Malformed`] ring.
fn is_malformed(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Malformed>().is_some()
}

/// WARNs about the drops of a rotation that a clock step explains: keys
/// made ahead of today, or more than one key dropped at once.
fn log_drops(rotation: &Rotation, now: i64) {
    if !rotation.ahead.is_empty() {
        tracing::warn!(
            dropped = ?rotation.ahead,
            today = epoch_of(now),
            "sender keys of epochs more than a day ahead dropped (a clock was ahead when they \
             were made): senders' shares counted under them start from zero"
        );
    }
    if rotation.expired.len() > 1 {
        tracing::warn!(
            dropped = ?rotation.expired,
            today = epoch_of(now),
            "sender key rotation dropped more than one key at once (a clock step, or a long stop)"
        );
    }
}
