//! Logging setup and the privacy helpers that keep the social graph out of logs.

use std::fmt;

use sha2::{Digest, Sha256};
use tracing_subscriber::{EnvFilter, fmt as tfmt, prelude::*};

/// The log filter without `RUST_LOG`: our own events at info, and the one
/// line per request that `tower_http`'s trace layer writes at info when a
/// response is sent (its failures at error). Keep `tower_http=info` in any
/// `RUST_LOG` you set (the deploy files do), or the request lines go.
pub const DEFAULT_FILTER: &str = "kez_chat_server=info,tower_http=info";

/// Capped whatever `RUST_LOG` says: tokio-postgres logs every statement
/// with its parameters (handles, keys, envelopes) at debug, which would put
/// the social graph in the logs (README, "Logging").
const CAPPED: &[&str] = &["tokio_postgres=info"];

/// Installs the global tracing subscriber (`RUST_LOG`, when set and not
/// empty, replaces [`DEFAULT_FILTER`]; [`CAPPED`] targets stay capped).
pub fn init() {
    let mut filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    for cap in CAPPED {
        if let Ok(directive) = cap.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tfmt::layer()
                .with_writer(std::io::stderr)
                // Colour codes only for a terminal, never in files or journald.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .try_init();
}

/// Hashes identifiers (handles, keys) with a random per-process salt, so log
/// lines from one run can be correlated but never mapped back to a user,
/// and two runs cannot be joined.
#[derive(Clone)]
pub struct Redactor {
    salt: [u8; 16],
}

impl Redactor {
    /// A redactor with a fresh random salt.
    pub fn new() -> Self {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).expect("the OS random number generator is unavailable");
        Self { salt }
    }

    /// A short salted hash of `value`, suitable for a log field.
    pub fn hash(&self, value: &str) -> Redacted {
        let digest = Sha256::new()
            .chain_update(self.salt)
            .chain_update(value.as_bytes())
            .finalize();
        let mut out = [0u8; 6];
        out.copy_from_slice(&digest[..6]);
        Redacted(out)
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

/// The printable form of a redacted identifier.
#[derive(Clone, Copy)]
pub struct Redacted([u8; 6]);

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "h:{}", hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_per_process_and_hide_the_value() {
        let r = Redactor::new();
        let a = r.hash("alice").to_string();
        assert_eq!(a, r.hash("alice").to_string());
        assert!(!a.contains("alice"));
        assert_ne!(a, Redactor::new().hash("alice").to_string());
    }
}
