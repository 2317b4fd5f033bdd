//! The ring file on disk: read it, notice when it changed, lock it for a
//! rotation, and replace it atomically. Blocking I/O: call from a blocking
//! thread.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;

use super::ring::KeyRing;
use crate::private_file;

/// What identifies one version of the file: a replacement is a new file
/// (a new inode), and a rewrite in place changes its time or length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

/// The stamp of the file at `path`; `None` when it does not exist.
pub(super) fn stamp(path: &Path) -> anyhow::Result<Option<Stamp>> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(stamp_of(&meta))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot stat {}", path.display())),
    }
}

fn stamp_of(meta: &std::fs::Metadata) -> Stamp {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0;
    Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode,
    }
}

/// The ring at `path` with the stamp of what was read; `None` when the
/// file does not exist. Errors: unreadable or malformed (the path named).
pub(super) fn read(path: &Path) -> anyhow::Result<Option<(KeyRing, Stamp)>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let meta = file.metadata()?;
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut json)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let ring = KeyRing::parse(&json).with_context(|| path.display().to_string())?;
    Ok(Some((ring, stamp_of(&meta))))
}

/// An exclusive lock on `<ring>.lock` (created 0600 if missing), held
/// until dropped: one rotation at a time among the instances sharing the
/// ring. Blocks until the lock is free.
pub(super) fn lock(ring_path: &Path) -> anyhow::Result<File> {
    let path = private_file::sibling(ring_path, ".lock");
    let file = private_file::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(file)
}

/// Replaces the file at `path` with `ring` (mode 0600): a temporary file
/// in the same directory, written and fsync'd, renamed over it, then the
/// directory fsync'd so the rename survives a crash. Returns the new stamp.
pub(super) fn write_atomic(path: &Path, ring: &KeyRing) -> anyhow::Result<Stamp> {
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).context("the OS random number generator is unavailable")?;
    let tmp = private_file::sibling(path, &format!(".tmp-{}", hex::encode(suffix)));
    let written = (|| -> anyhow::Result<Stamp> {
        let mut file = private_file::options()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(&ring.to_json())?;
        file.sync_all()?;
        let stamp = stamp_of(&file.metadata()?);
        std::fs::rename(&tmp, path)?;
        Ok(stamp)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let stamp = written.with_context(|| format!("cannot write {}", path.display()))?;
    sync_dir(path).with_context(|| format!("cannot sync the directory of {}", path.display()))?;
    Ok(stamp)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}
