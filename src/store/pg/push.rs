//! Web Push state on PostgreSQL (as `store::push_subs`): the one VAPID key
//! every instance signs with, and the subscriptions.

use super::{Pg, big_len, refuse_full};
use crate::kez::Handle;
use crate::store::{PushSubscription, Result, SubscribeOutcome};

impl Pg {
    /// See `Store::vapid_private_key`: the first instance to start stores
    /// the key it generated; every other one reads that key (without
    /// writing: an instance also starts on a read-only standby).
    pub(in crate::store) async fn vapid_private_key(&self, generated: String) -> Result<String> {
        let client = self.client().await?;
        let select = "SELECT private_key FROM vapid_keys WHERE id = 1";
        if let Some(row) = client.query_opt(select, &[]).await? {
            return Ok(row.get(0));
        }
        client
            .execute(
                "INSERT INTO vapid_keys (id, private_key, created_at) VALUES (1, $1, $2)
                 ON CONFLICT (id) DO NOTHING",
                &[&generated, &crate::store::unix_now()],
            )
            .await
            .map_err(refuse_full)?;
        self.wrote();
        let row = client.query_one(select, &[]).await?;
        Ok(row.get(0))
    }

    /// See `Store::upsert_push_subscription`. The handle's row is locked
    /// first, so the cap holds with instances registering at once.
    pub(in crate::store) async fn upsert_push_subscription(
        &self,
        sub: &PushSubscription,
        max_per_handle: usize,
        now_ms: i64,
    ) -> Result<SubscribeOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let handle = sub.handle.as_str();
        tx.execute(
            "SELECT 1 FROM handles WHERE handle = $1 FOR NO KEY UPDATE",
            &[&handle],
        )
        .await?;
        let refreshed = tx
            .execute(
                "UPDATE push_subscriptions SET p256dh = $3, auth = $4, updated_ms = $5
                 WHERE handle = $1 AND endpoint = $2",
                &[&handle, &sub.endpoint, &sub.p256dh, &sub.auth, &now_ms],
            )
            .await?;
        if refreshed > 0 {
            self.commit(tx).await?;
            return Ok(SubscribeOutcome {
                created: false,
                evicted: 0,
            });
        }
        let held: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM push_subscriptions WHERE handle = $1",
                &[&handle],
            )
            .await?
            .get(0);
        let excess = (held - big_len(max_per_handle.max(1)) + 1).max(0);
        let evicted = if excess > 0 {
            tx.execute(
                "DELETE FROM push_subscriptions WHERE handle = $1 AND endpoint IN (
                    SELECT endpoint FROM push_subscriptions WHERE handle = $1
                    ORDER BY updated_ms, created_at, endpoint LIMIT $2)",
                &[&handle, &excess],
            )
            .await?
        } else {
            0
        };
        tx.execute(
            "INSERT INTO push_subscriptions (handle, endpoint, p256dh, auth, created_at, updated_ms)
             VALUES ($1, $2, $3, $4, $5::BIGINT / 1000, $5)",
            &[&handle, &sub.endpoint, &sub.p256dh, &sub.auth, &now_ms],
        )
        .await
        .map_err(refuse_full)?;
        self.commit(tx).await?;
        Ok(SubscribeOutcome {
            created: true,
            evicted: usize::try_from(evicted).unwrap_or(usize::MAX),
        })
    }

    /// See `Store::delete_push_subscription` (and, with `auth`,
    /// `delete_gone_push_subscription`: only while the keys are unchanged).
    pub(in crate::store) async fn delete_push_subscription(
        &self,
        handle: &Handle,
        endpoint: &str,
        auth: Option<&str>,
    ) -> Result<bool> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM push_subscriptions WHERE handle = $1 AND endpoint = $2
                 AND ($3::TEXT IS NULL OR auth = $3)",
                &[&handle.as_str(), &endpoint, &auth],
            )
            .await?;
        self.wrote();
        Ok(n > 0)
    }

    /// See `Store::has_push_subscription`.
    pub(in crate::store) async fn has_push_subscription(
        &self,
        handle: &Handle,
        endpoint: &str,
    ) -> Result<bool> {
        let client = self.reader().await?;
        Ok(client
            .query_opt(
                "SELECT 1 FROM push_subscriptions WHERE handle = $1 AND endpoint = $2",
                &[&handle.as_str(), &endpoint],
            )
            .await?
            .is_some())
    }

    /// See `Store::push_subscriptions_of`.
    pub(in crate::store) async fn push_subscriptions_of(
        &self,
        handle: &Handle,
    ) -> Result<Vec<PushSubscription>> {
        let client = self.reader().await?;
        let rows = client
            .query(
                "SELECT endpoint, p256dh, auth FROM push_subscriptions
                 WHERE handle = $1 ORDER BY created_at, endpoint",
                &[&handle.as_str()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| PushSubscription {
                handle: handle.clone(),
                endpoint: r.get(0),
                p256dh: r.get(1),
                auth: r.get(2),
            })
            .collect())
    }
}
