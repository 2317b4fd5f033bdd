//! Files only their owner may read (the database, the sender key ring,
//! their lock files, secret files): one way to create them (mode 0600), to
//! name the files beside them, and to tell when one is open to others.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

/// Open options that create a file with mode 0600 (the mode alone: add
/// `write`, `create`… as needed). Off unix, plain options.
pub fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// `path` with `suffix` appended to its file name (`kez.db` → `kez.db.lock`).
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether the file's mode lets anyone but its owner read or write it
/// (always `false` off unix, and for a path that cannot be read).
pub fn too_open(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}
