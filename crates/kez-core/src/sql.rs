//! rusqlite conversions (feature `rusqlite`): `Handle` and `Identity` are
//! stored as their text forms (`alice`, `ed25519:<hex>`), and read back
//! through the same parsers, so a row holding anything else is an error
//! rather than an unchecked value. A stored key is checked for its format
//! only ([`Identity::parse_stored`]): a key registered under an older rule
//! still loads, and verifies no signature.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::{Handle, Identity};

impl ToSql for Handle {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Handle {
    /// Syntax only ([`Handle::parse`]): a stored handle may be one reserved
    /// after it was registered.
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Handle::parse(value.as_str()?).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

impl ToSql for Identity {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_string()))
    }
}

impl FromSql for Identity {
    /// Format and point encoding only ([`Identity::parse_stored`]): a key
    /// stored under an older, laxer rule still loads, and never verifies.
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Identity::parse_stored(value.as_str()?).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute("CREATE TABLE t (v TEXT NOT NULL)", [])
            .unwrap();
        conn
    }

    fn read<T: FromSql>(conn: &Connection) -> rusqlite::Result<T> {
        conn.query_row("SELECT v FROM t", [], |r| r.get(0))
    }

    #[test]
    fn a_handle_round_trips_and_a_bad_one_is_refused() {
        let conn = db();
        let h = Handle::parse("alice").unwrap();
        conn.execute("INSERT INTO t (v) VALUES (?1)", [&h]).unwrap();
        let text: String = read(&conn).unwrap();
        assert_eq!(text, "alice");
        assert_eq!(read::<Handle>(&conn).unwrap(), h);

        conn.execute("UPDATE t SET v = 'Not A Handle'", []).unwrap();
        let err = read::<Handle>(&conn).unwrap_err();
        assert!(
            matches!(err, rusqlite::Error::FromSqlConversionFailure(0, _, _)),
            "{err:?}"
        );
    }

    #[test]
    fn an_identity_round_trips_and_a_bad_one_is_refused() {
        let conn = db();
        let text = "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
        let id = Identity::parse(text).unwrap();
        conn.execute("INSERT INTO t (v) VALUES (?1)", [&id])
            .unwrap();
        assert_eq!(read::<String>(&conn).unwrap(), text);
        assert_eq!(read::<Identity>(&conn).unwrap(), id);

        // A mixed-order key (speccheck-3) stored under the old rule loads,
        // but verifies nothing.
        let weak = "ed25519:cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d";
        assert!(Identity::parse(weak).is_err());
        conn.execute("UPDATE t SET v = ?1", [weak]).unwrap();
        let loaded = read::<Identity>(&conn).unwrap();
        assert_eq!(loaded.to_string(), weak);
        assert!(!loaded.is_strict());

        conn.execute("UPDATE t SET v = 'ed25519:00'", []).unwrap();
        let err = read::<Identity>(&conn).unwrap_err();
        assert!(
            matches!(err, rusqlite::Error::FromSqlConversionFailure(0, _, _)),
            "{err:?}"
        );
    }
}
