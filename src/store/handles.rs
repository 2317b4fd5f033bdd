//! The handle registry table.

use rusqlite::{Connection, OptionalExtension, params};

use super::Store;
use super::{Result, StoreError};
use crate::kez::signed::Registration;
use crate::kez::{Handle, Identity};

/// One registered handle as stored.
#[derive(Debug, Clone)]
pub struct HandleRecord {
    /// The handle.
    pub handle: Handle,
    /// Its key, stored as `ed25519:<hex>`.
    pub primary: Identity,
    /// Unix seconds.
    pub registered_at: i64,
}

impl Store {
    /// Stores a verified registration; [`StoreError::HandleTaken`] or
    /// [`StoreError::PrimaryTaken`] if the handle or the key is taken.
    pub async fn register_handle(
        &self,
        reg: Registration,
        envelope_json: String,
        now: i64,
    ) -> Result<HandleRecord> {
        if let Some(pg) = self.pg() {
            return pg.register_handle(&reg, &envelope_json, now).await;
        }
        self.write(
            move |conn| insert_handle(conn, &reg, &envelope_json, now),
            |_| {},
        )
        .await
    }

    /// Looks a handle up by name; a registered one is answered from memory
    /// after its first lookup (registrations are final, see `handle_cache`).
    pub async fn handle_by_name(&self, handle: Handle) -> Result<Option<HandleRecord>> {
        if let Some(hit) = self.inner.handle_cache.get(&handle) {
            return Ok(Some(hit));
        }
        let found = if let Some(pg) = self.pg() {
            pg.handle_by_name(&handle).await?
        } else {
            self.read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT handle, primary_key, registered_at FROM handles WHERE handle = ?1",
                    )?
                    .query_row(params![handle], row_to_record)
                    .optional()
                    .or_else(quarantine)?)
            })
            .await?
        };
        if let Some(record) = &found {
            self.inner.handle_cache.insert(record);
        }
        Ok(found)
    }

    /// Every registered handle with its key, in registration order (rowid),
    /// for the nostr listener's subscriptions. A row that cannot be read
    /// back (a handle or key that no parser accepts) is skipped with a
    /// warning, so one bad row never stops the listener.
    pub async fn all_primaries(&self) -> Result<Vec<(Handle, Identity)>> {
        if let Some(pg) = self.pg() {
            return pg.all_primaries().await;
        }
        self.read(move |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT handle, primary_key FROM handles ORDER BY rowid")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                match row {
                    Ok(pair) => out.push(pair),
                    Err(e) if is_unreadable(&e) => skip_row(&e),
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(out)
        })
        .await
    }

    /// Looks a handle up by its key.
    pub async fn handle_by_primary(&self, primary: Identity) -> Result<Option<HandleRecord>> {
        if let Some(pg) = self.pg() {
            return pg.handle_by_primary(&primary).await;
        }
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT handle, primary_key, registered_at FROM handles WHERE primary_key = ?1",
                    params![primary],
                    row_to_record,
                )
                .optional()
                .or_else(quarantine)?)
        })
        .await
    }
}

/// A stored value its parser refuses (not a failure of the database).
fn is_unreadable(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::FromSqlConversionFailure(..))
}

fn skip_row(e: &rusqlite::Error) {
    tracing::warn!(error = %e, "skipping a handles row that cannot be read back");
}

/// A lookup whose row cannot be read back answers "not found" (with a
/// warning) rather than failing the request.
fn quarantine(e: rusqlite::Error) -> rusqlite::Result<Option<HandleRecord>> {
    if is_unreadable(&e) {
        skip_row(&e);
        Ok(None)
    } else {
        Err(e)
    }
}

fn row_to_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<HandleRecord> {
    Ok(HandleRecord {
        handle: r.get(0)?,
        primary: r.get(1)?,
        registered_at: r.get(2)?,
    })
}

fn insert_handle(
    conn: &Connection,
    reg: &Registration,
    envelope_json: &str,
    now: i64,
) -> Result<HandleRecord> {
    let record = HandleRecord {
        handle: reg.handle.clone(),
        primary: reg.primary.clone(),
        registered_at: now,
    };
    let inserted = conn.execute(
        "INSERT INTO handles (handle, primary_key, registered_at, envelope) VALUES (?1, ?2, ?3, ?4)",
        params![record.handle, record.primary, now, envelope_json],
    );
    if let Err(e) = inserted {
        return Err(on_unique_violation(e));
    }
    conn.execute(
        "INSERT INTO mailboxes (handle) VALUES (?1)",
        params![record.handle],
    )?;
    Ok(record)
}

/// Turns the database's uniqueness verdict into what was taken.
fn on_unique_violation(e: rusqlite::Error) -> StoreError {
    let msg = match &e {
        rusqlite::Error::SqliteFailure(f, Some(m))
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            m.as_str()
        }
        _ => return e.into(),
    };
    if msg.contains("handles.primary_key") {
        StoreError::PrimaryTaken
    } else if msg.contains("handles.handle") {
        StoreError::HandleTaken
    } else {
        e.into()
    }
}
