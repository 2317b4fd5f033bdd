//! `--database-url`: where a PostgreSQL store lives (SPEC §11.2).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Everything the PostgreSQL store needs to connect (`Config::postgres`).
#[derive(Clone)]
pub struct PgOptions {
    /// `--database-url` as the driver reads it, with the password of
    /// `--database-password-file` (which replaces one in the URL). Its
    /// `Debug` does not show the password.
    pub connect: tokio_postgres::Config,
    /// `--database-ca-file`: the roots for TLS; `None`: the system's.
    pub ca_file: Option<PathBuf>,
    /// `--database-pool`: most connections.
    pub pool: usize,
}

/// A PostgreSQL connection string as libpq takes it (URL or `key=value`).
/// It may hold a password, so `Debug` and `Display` show only that one is
/// set, never the string: a config dump or a log line cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The string as given, for the driver alone.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The driver's configuration. libpq's `sslmode=verify-ca` and
    /// `verify-full` read as `require`, which checks the certificate and
    /// the host name here anyway (tokio-postgres knows only `disable`,
    /// `prefer` and `require`). Errors: the string does not parse; the
    /// message never quotes it (it may hold a password).
    pub fn config(&self) -> anyhow::Result<tokio_postgres::Config> {
        let mut text = self.0.clone();
        for libpq in ["sslmode=verify-full", "sslmode=verify-ca"] {
            text = text.replace(libpq, "sslmode=require");
        }
        text.parse().map_err(|e| {
            anyhow::anyhow!(
                "--database-url is not a PostgreSQL connection string ({e}); sslmode takes \
                 disable, prefer, require, verify-ca or verify-full"
            )
        })
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    /// Takes any string: it is checked at start-up by [`DatabaseUrl::config`],
    /// whose error does not quote it (clap's would).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseUrl(<redacted>)")
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("postgres (connection string not shown)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows_in_debug_or_display() {
        let url: DatabaseUrl = "postgres://kez:hunter2@db.internal/kez".parse().unwrap();
        assert!(!format!("{url:?} {url}").contains("hunter2"));
        assert_eq!(url.expose(), "postgres://kez:hunter2@db.internal/kez");
        let bad: DatabaseUrl = "postgres://kez:hunter2@db/kez?sslmode=sometimes"
            .parse()
            .unwrap();
        let err = format!("{:#}", bad.config().unwrap_err());
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("verify-full"), "{err}");
    }

    #[test]
    fn libpq_verify_modes_read_as_require() {
        for mode in ["verify-full", "verify-ca", "require"] {
            let url: DatabaseUrl = format!("postgres://db/kez?sslmode={mode}").parse().unwrap();
            let config = url.config().unwrap();
            assert_eq!(
                config.get_ssl_mode(),
                tokio_postgres::config::SslMode::Require
            );
        }
    }
}
