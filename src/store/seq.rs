//! The per-recipient message sequence number (SPEC §7).

use std::fmt;

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// A message's position in its recipient's mailbox: 1 for the first message,
/// then +1 per new message, never reused (SPEC §7.1). [`Seq::ZERO`] is the
/// cursor "before the first message" (`?since=0`, a fresh stream).
///
/// On the wire it is a plain JSON number (`"seq": 3`, `?since=3`,
/// `id: 3` in SSE). In SQLite it is an INTEGER, i.e. an `i64`: a negative
/// stored value is refused when read, and a value above `i64::MAX` when
/// written, each as a rusqlite conversion error, never wrapped by a cast.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(u64);

impl Seq {
    /// Before the first message.
    pub const ZERO: Self = Self(0);

    /// The sequence number `n`.
    #[must_use]
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The number itself.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The seq right after this one; `None` past `u64::MAX`.
    #[must_use]
    pub fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(Self)
    }

    /// The seq right before this one; `None` for [`Seq::ZERO`].
    #[must_use]
    pub fn prev(self) -> Option<Self> {
        self.0.checked_sub(1).map(Self)
    }
}

impl From<u64> for Seq {
    fn from(n: u64) -> Self {
        Self(n)
    }
}

impl From<Seq> for u64 {
    fn from(s: Seq) -> Self {
        s.0
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ToSql for Seq {
    /// `ToSqlConversionFailure` above `i64::MAX`.
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let n = i64::try_from(self.0)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(ToSqlOutput::from(n))
    }
}

impl FromSql for Seq {
    /// `OutOfRange` for a negative INTEGER, `InvalidType` for anything else.
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let n = value.as_i64()?;
        u64::try_from(n)
            .map(Self)
            .map_err(|_| rusqlite::types::FromSqlError::OutOfRange(n))
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn stored(conn: &Connection) -> rusqlite::Result<Seq> {
        conn.query_row("SELECT v FROM t", [], |r| r.get(0))
    }

    #[test]
    fn round_trips_through_sqlite_and_refuses_what_does_not_fit() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute("CREATE TABLE t (v)", []).unwrap();
        let big = Seq::new(u64::try_from(i64::MAX).unwrap());
        conn.execute("INSERT INTO t (v) VALUES (?1)", [big])
            .unwrap();
        assert_eq!(stored(&conn).unwrap(), big);

        let too_big = conn.execute("UPDATE t SET v = ?1", [big.next().unwrap()]);
        assert!(
            matches!(too_big, Err(rusqlite::Error::ToSqlConversionFailure(_))),
            "{too_big:?}"
        );
        conn.execute("UPDATE t SET v = -1", []).unwrap();
        let err = stored(&conn).unwrap_err();
        assert!(
            matches!(err, rusqlite::Error::IntegralValueOutOfRange(0, -1)),
            "{err:?}"
        );
        conn.execute("UPDATE t SET v = 'seven'", []).unwrap();
        assert!(stored(&conn).is_err());
    }

    #[test]
    fn is_a_plain_json_number() {
        assert_eq!(serde_json::to_string(&Seq::new(7)).unwrap(), "7");
        assert_eq!(serde_json::from_str::<Seq>("7").unwrap(), Seq::new(7));
        assert!(serde_json::from_str::<Seq>("-1").is_err());
        assert!(serde_json::from_str::<Seq>("\"7\"").is_err());
    }

    #[test]
    fn steps_stop_at_the_ends() {
        assert_eq!(Seq::ZERO.next(), Some(Seq::new(1)));
        assert_eq!(Seq::ZERO.prev(), None);
        assert_eq!(Seq::new(u64::MAX).next(), None);
        assert_eq!(Seq::new(5).prev(), Some(Seq::new(4)));
    }
}
