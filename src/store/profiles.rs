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

impl PutProfile {
    /// The refusal a handle's registered key (`None`: no such handle) gives
    /// a profile signed by `primary`, if any (both backends).
    pub(super) fn refused_by_owner(owner: Option<&str>, primary: &Identity) -> Option<Self> {
        match owner {
            None => Some(Self::UnknownHandle),
            Some(owner) if owner != primary.to_string() => Some(Self::WrongPrimary),
            Some(_) => None,
        }
    }
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
    if let Some(refused) = PutProfile::refused_by_owner(owner.as_deref(), primary) {
        return Ok(refused);
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
