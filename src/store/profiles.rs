//! The public profiles table (SPEC §14.5): one signed document per handle,
//! stored as the bytes the client sent.

use rusqlite::{Connection, OptionalExtension, params};

use super::Result;
use super::Store;
use crate::kez::{Handle, Identity};

/// What storing a verified profile came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutProfile {
    /// Stored, replacing any older one.
    Stored,
    /// No such handle here.
    UnknownHandle,
    /// The handle belongs to another key.
    WrongPrimary,
    /// The stored profile is as new or newer (a replay or an old document).
    Stale,
}

impl Store {
    /// Stores `document` as `handle`'s profile if `primary` owns the handle
    /// and `updated_at` (unix seconds) is newer than the stored one; the
    /// checks and the write are one job of the single writer, so two
    /// concurrent updates cannot both win.
    pub async fn put_profile(
        &self,
        handle: Handle,
        primary: Identity,
        updated_at: i64,
        document: String,
        etag: String,
    ) -> Result<PutProfile> {
        if let Some(pg) = self.pg() {
            return pg
                .put_profile(&handle, &primary, updated_at, &document, &etag)
                .await;
        }
        self.write(
            move |conn| put(conn, &handle, &primary, updated_at, &document, &etag),
            |_| {},
        )
        .await
    }

    /// The stored profile document of `handle`, byte for byte, and the
    /// entity tag stored with it (`""` for a row from before migration 7).
    pub async fn profile(&self, handle: Handle) -> Result<Option<(String, String)>> {
        if let Some(pg) = self.pg() {
            return pg.profile(&handle).await;
        }
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT document, etag FROM profiles WHERE handle = ?1",
                    params![handle],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })
        .await
    }
}

fn put(
    conn: &Connection,
    handle: &Handle,
    primary: &Identity,
    updated_at: i64,
    document: &str,
    etag: &str,
) -> Result<PutProfile> {
    let owner: Option<String> = conn
        .query_row(
            "SELECT primary_key FROM handles WHERE handle = ?1",
            params![handle],
            |r| r.get(0),
        )
        .optional()?;
    match owner {
        None => return Ok(PutProfile::UnknownHandle),
        Some(owner) if owner != primary.to_string() => return Ok(PutProfile::WrongPrimary),
        Some(_) => {}
    }
    let stored: Option<i64> = conn
        .query_row(
            "SELECT updated_at FROM profiles WHERE handle = ?1",
            params![handle],
            |r| r.get(0),
        )
        .optional()?;
    if stored.is_some_and(|t| t >= updated_at) {
        return Ok(PutProfile::Stale);
    }
    conn.execute(
        "INSERT INTO profiles (handle, document, updated_at, etag) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (handle) DO UPDATE SET document = excluded.document,
                                            updated_at = excluded.updated_at,
                                            etag = excluded.etag",
        params![handle, document, updated_at, etag],
    )?;
    Ok(PutProfile::Stored)
}
