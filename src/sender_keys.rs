//! Sender keys (SPEC §7.5): the keys that turn a sender's network into the
//! tag stored with its messages and counted toward its share of a mailbox.
//!
//! They live in a small ring file beside the database (`--sender-key-file`,
//! default `<db>.sender-keys`), never in it, so a copy of the database or of
//! a `--backup-to` file does not give back who posted: a tag is an HMAC
//! under a key the copy lacks. One key per epoch (unix day); the newest
//! makes the tags of new posts, and older ones are kept while messages
//! stored under them may still be live, so a sender's share holds across a
//! rotation. Instances sharing one database share the ring file: a rotation
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

use anyhow::Context;
use parking_lot::RwLock;

pub use ring::{EPOCH_SECS, KeyRing, Malformed, epoch_of};

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
    /// Errors: the file is unreadable or malformed, or cannot be written.
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
        keys.check()
            .with_context(|| format!("sender key ring {}", keys.path().display()))?;
        if file::too_open(keys.path()) {
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
    /// text) under the ring in memory: see [`KeyRing::tags`]. No I/O.
    pub fn tags(&self, network: &str) -> SenderTags {
        self.ring().tags(network)
    }

    /// One check, blocking file I/O: re-reads the file if it changed since
    /// it was last read or written here, then rotates it if due (the
    /// current epoch has no key, an old key should go, or the file is
    /// missing) under `<ring>.lock`. Errors: the file cannot be read,
    /// parsed or written; the ring in memory stays as it was.
    pub fn check(&self) -> anyhow::Result<()> {
        let path = self.path();
        let on_disk = file::stamp(path)?;
        let known = self.inner.loaded.read().stamp;
        if on_disk.is_some()
            && on_disk != known
            && let Some((ring, stamp)) = file::read(path)?
        {
            if known.is_some() {
                tracing::info!(epochs = ?ring.epochs(), "sender key ring changed on disk; reloaded");
            }
            self.install(ring, stamp);
        }
        let due = on_disk.is_none() || self.ring().rotated(self.now(), self.retention()).is_some();
        if due { self.rotate() } else { Ok(()) }
    }

    /// Rotates under the lock, from the file as it is now (another
    /// instance may have just rotated it) or, if it is missing, from the
    /// ring in memory, and writes the result if it differs.
    fn rotate(&self) -> anyhow::Result<()> {
        let path = self.path();
        let _lock = file::lock(path)?;
        let (base, on_disk) = match file::read(path)? {
            Some((ring, stamp)) => (ring, Some(stamp)),
            None => ((*self.ring()).clone(), None),
        };
        let next = base.rotated(self.now(), self.retention());
        match (next, on_disk) {
            (None, Some(stamp)) => self.install(base, stamp),
            (next, _) => {
                let ring = next.unwrap_or(base);
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
