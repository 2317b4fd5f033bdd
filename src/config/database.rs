//! `--database-url`: where a PostgreSQL store lives (SPEC §11.2).

use std::fmt;
use std::str::FromStr;

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
}

impl FromStr for DatabaseUrl {
    type Err = String;

    /// Refuses what tokio-postgres cannot parse, at start-up, with its reason.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<tokio_postgres::Config>()
            .map_err(|e| format!("not a PostgreSQL connection string: {e}"))?;
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
        assert!("postgres://[bad".parse::<DatabaseUrl>().is_err());
    }
}
