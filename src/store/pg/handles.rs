//! Handles and profiles on PostgreSQL (as `store::handles`, `store::profiles`).

use tokio_postgres::Row;

use super::{Pg, violates};
use crate::kez::signed::Registration;
use crate::kez::{Handle, Identity};
use crate::store::{HandleRecord, PutProfile, Result, StoreError};

impl Pg {
    /// See `Store::register_handle`.
    pub(in crate::store) async fn register_handle(
        &self,
        reg: &Registration,
        envelope_json: &str,
        now: i64,
    ) -> Result<HandleRecord> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let inserted = tx
            .execute(
                "INSERT INTO handles (handle, primary_key, registered_at, envelope)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &reg.handle.as_str(),
                    &reg.primary.to_string(),
                    &now,
                    &envelope_json,
                ],
            )
            .await;
        if let Err(e) = inserted {
            return Err(if violates(&e, "handles_pkey") {
                StoreError::HandleTaken
            } else if violates(&e, "handles_primary_key_key") {
                StoreError::PrimaryTaken
            } else {
                super::refuse_full(e)
            });
        }
        tx.execute(
            "INSERT INTO mailboxes (handle) VALUES ($1)",
            &[&reg.handle.as_str()],
        )
        .await
        .map_err(super::refuse_full)?;
        self.commit(tx).await?;
        Ok(HandleRecord {
            handle: reg.handle.clone(),
            primary: reg.primary.clone(),
            registered_at: now,
        })
    }

    /// See `Store::handle_by_name` (uncached here).
    pub(in crate::store) async fn handle_by_name(
        &self,
        handle: &Handle,
    ) -> Result<Option<HandleRecord>> {
        let client = self.reader().await?;
        let stmt = client
            .prepare_cached(
                "SELECT handle, primary_key, registered_at FROM handles WHERE handle = $1",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&handle.as_str()]).await?;
        Ok(row.and_then(|r| readable(&r)))
    }

    /// See `Store::handle_by_primary`.
    pub(in crate::store) async fn handle_by_primary(
        &self,
        primary: &Identity,
    ) -> Result<Option<HandleRecord>> {
        let client = self.reader().await?;
        let row = client
            .query_opt(
                "SELECT handle, primary_key, registered_at FROM handles WHERE primary_key = $1",
                &[&primary.to_string()],
            )
            .await?;
        Ok(row.and_then(|r| readable(&r)))
    }

    /// See `Store::all_primaries`: registration order, unreadable rows skipped.
    pub(in crate::store) async fn all_primaries(&self) -> Result<Vec<(Handle, Identity)>> {
        let client = self.reader().await?;
        let rows = client
            .query(
                "SELECT handle, primary_key, registered_at FROM handles ORDER BY registered_no",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(readable)
            .map(|r| (r.handle, r.primary))
            .collect())
    }

    /// See `Store::put_profile`. The handle's row is locked first, so two
    /// instances storing profiles of one handle take turns and the newer
    /// `updated_at` wins whatever the order.
    pub(in crate::store) async fn put_profile(
        &self,
        handle: &Handle,
        primary: &Identity,
        updated_at: i64,
        document: &str,
        etag: &str,
    ) -> Result<PutProfile> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let owner = tx
            .query_opt(
                "SELECT primary_key FROM handles WHERE handle = $1 FOR NO KEY UPDATE",
                &[&handle.as_str()],
            )
            .await?;
        let owner = owner.map(|r| r.get::<_, String>(0));
        if let Some(refused) = PutProfile::refused_by_owner(owner.as_deref(), primary) {
            return Ok(refused);
        }
        let stored = tx
            .query_opt(
                "SELECT updated_at FROM profiles WHERE handle = $1",
                &[&handle.as_str()],
            )
            .await?;
        if stored.is_some_and(|r| r.get::<_, i64>(0) >= updated_at) {
            return Ok(PutProfile::Stale);
        }
        tx.execute(
            "INSERT INTO profiles (handle, document, updated_at, etag) VALUES ($1, $2, $3, $4)
             ON CONFLICT (handle) DO UPDATE SET document = EXCLUDED.document,
                 updated_at = EXCLUDED.updated_at, etag = EXCLUDED.etag",
            &[&handle.as_str(), &document, &updated_at, &etag],
        )
        .await
        .map_err(super::refuse_full)?;
        self.commit(tx).await?;
        Ok(PutProfile::Stored)
    }

    /// See `Store::profile`: the document and its entity tag.
    pub(in crate::store) async fn profile(
        &self,
        handle: &Handle,
    ) -> Result<Option<(String, String)>> {
        let client = self.reader().await?;
        let row = client
            .query_opt(
                "SELECT document, etag FROM profiles WHERE handle = $1",
                &[&handle.as_str()],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }
}

/// A handles row as a record; one no parser accepts is skipped with a
/// warning (as on SQLite), so it reads as "not found".
fn readable(r: &Row) -> Option<HandleRecord> {
    let handle = Handle::parse(r.get::<_, &str>(0));
    let primary = Identity::parse_stored(r.get::<_, &str>(1));
    match (handle, primary) {
        (Ok(handle), Ok(primary)) => Some(HandleRecord {
            handle,
            primary,
            registered_at: r.get(2),
        }),
        _ => {
            tracing::warn!("skipping a handles row that cannot be read back");
            None
        }
    }
}
