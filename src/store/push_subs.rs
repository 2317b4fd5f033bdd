//! Web Push state (SPEC §10): the server's VAPID key and each handle's push
//! subscriptions.

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, Store};
use crate::kez::Handle;

/// One browser push subscription of a handle, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    /// The handle that registered it.
    pub handle: Handle,
    /// The push service URL, exactly as the browser gave it.
    pub endpoint: String,
    /// The browser's P-256 key, base64url (kept for a future encrypted payload).
    pub p256dh: String,
    /// The browser's auth secret, base64url; also tells re-registrations apart.
    pub auth: String,
}

/// What registering a subscription did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeOutcome {
    /// False when `(handle, endpoint)` was already stored and only refreshed.
    pub created: bool,
    /// How many older subscriptions were dropped to stay within the cap.
    pub evicted: usize,
}

impl Store {
    /// Returns the stored VAPID private key, first storing `generate()` if
    /// there is none. Synchronous on its own connection because it runs once
    /// while the server starts, before anything else writes.
    pub fn vapid_private_key(&self, generate: impl FnOnce() -> String) -> anyhow::Result<String> {
        if let Some(pg) = self.pg() {
            let handle = tokio::runtime::Handle::try_current()
                .context("reading the VAPID key from PostgreSQL needs a tokio runtime")?;
            return Ok(handle.block_on(pg.vapid_private_key(generate()))?);
        }
        let conn = Connection::open(&self.sqlite()?.path).context("cannot open database")?;
        super::configure(&conn)?;
        let select = |conn: &Connection| -> rusqlite::Result<Option<String>> {
            conn.query_row("SELECT private_key FROM vapid_keys WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
        };
        if let Some(key) = select(&conn)? {
            return Ok(key);
        }
        // OR IGNORE: if another process won the race, its key is the one kept.
        conn.execute(
            "INSERT OR IGNORE INTO vapid_keys (id, private_key, created_at) VALUES (1, ?1, ?2)",
            params![generate(), super::unix_now()],
        )?;
        select(&conn)?.context("VAPID key missing right after insert")
    }

    /// Adds or refreshes a subscription; beyond `max_per_handle` the least
    /// recently (re-)registered ones are dropped. `now_ms` is unix
    /// milliseconds, so registrations within one second still order.
    pub async fn upsert_push_subscription(
        &self,
        sub: PushSubscription,
        max_per_handle: usize,
        now_ms: i64,
    ) -> Result<SubscribeOutcome> {
        if let Some(pg) = self.pg() {
            return pg
                .upsert_push_subscription(&sub, max_per_handle, now_ms)
                .await;
        }
        self.write(
            move |conn| upsert(conn, &sub, max_per_handle, now_ms),
            |_| {},
        )
        .await
    }

    /// Deletes `(handle, endpoint)`; true if it existed.
    pub async fn delete_push_subscription(&self, handle: Handle, endpoint: String) -> Result<bool> {
        if let Some(pg) = self.pg() {
            return pg.delete_push_subscription(&handle, &endpoint, None).await;
        }
        self.write(
            move |conn| {
                Ok(conn.execute(
                    "DELETE FROM push_subscriptions WHERE handle = ?1 AND endpoint = ?2",
                    params![handle, endpoint],
                )? > 0)
            },
            |_| {},
        )
        .await
    }

    /// Deletes a subscription the push service reported gone, but only if it
    /// still has the `auth` secret we pushed to: a re-subscription racing the
    /// failure (new keys, same endpoint) survives.
    pub async fn delete_gone_push_subscription(&self, sub: PushSubscription) -> Result<bool> {
        if let Some(pg) = self.pg() {
            return pg
                .delete_push_subscription(&sub.handle, &sub.endpoint, Some(&sub.auth))
                .await;
        }
        self.write(
            move |conn| {
                Ok(conn.execute(
                    "DELETE FROM push_subscriptions WHERE handle = ?1 AND endpoint = ?2 AND auth = ?3",
                    params![sub.handle, sub.endpoint, sub.auth],
                )? > 0)
            },
            |_| {},
        )
        .await
    }

    /// Whether `(handle, endpoint)` is stored.
    pub async fn has_push_subscription(&self, handle: Handle, endpoint: String) -> Result<bool> {
        if let Some(pg) = self.pg() {
            return pg.has_push_subscription(&handle, &endpoint).await;
        }
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT 1 FROM push_subscriptions WHERE handle = ?1 AND endpoint = ?2",
                    params![handle, endpoint],
                    |_| Ok(()),
                )
                .optional()?
                .is_some())
        })
        .await
    }

    /// Every subscription of `handle`.
    pub async fn push_subscriptions_of(&self, handle: Handle) -> Result<Vec<PushSubscription>> {
        if let Some(pg) = self.pg() {
            return pg.push_subscriptions_of(&handle).await;
        }
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT handle, endpoint, p256dh, auth FROM push_subscriptions
                 WHERE handle = ?1 ORDER BY created_at, endpoint",
            )?;
            let rows = stmt.query_map(params![handle], |r| {
                Ok(PushSubscription {
                    handle: r.get(0)?,
                    endpoint: r.get(1)?,
                    p256dh: r.get(2)?,
                    auth: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

fn upsert(
    conn: &Connection,
    sub: &PushSubscription,
    max_per_handle: usize,
    now_ms: i64,
) -> Result<SubscribeOutcome> {
    let refreshed = conn.execute(
        "UPDATE push_subscriptions SET p256dh = ?3, auth = ?4, updated_ms = ?5
         WHERE handle = ?1 AND endpoint = ?2",
        params![sub.handle, sub.endpoint, sub.p256dh, sub.auth, now_ms],
    )?;
    if refreshed > 0 {
        return Ok(SubscribeOutcome {
            created: false,
            evicted: 0,
        });
    }
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM push_subscriptions WHERE handle = ?1",
        params![sub.handle],
        |r| r.get(0),
    )?;
    let max = i64::try_from(max_per_handle.max(1)).unwrap_or(i64::MAX);
    let excess = (count - max + 1).max(0);
    let evicted = if excess > 0 {
        conn.execute(
            "DELETE FROM push_subscriptions WHERE handle = ?1 AND endpoint IN (
                SELECT endpoint FROM push_subscriptions WHERE handle = ?1
                ORDER BY updated_ms, created_at, endpoint LIMIT ?2)",
            params![sub.handle, excess],
        )?
    } else {
        0
    };
    conn.execute(
        "INSERT INTO push_subscriptions (handle, endpoint, p256dh, auth, created_at, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5 / 1000, ?5)",
        params![sub.handle, sub.endpoint, sub.p256dh, sub.auth, now_ms],
    )?;
    Ok(SubscribeOutcome {
        created: true,
        evicted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrations::apply(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO handles (handle, primary_key, registered_at, envelope) VALUES ('bob', 'k', 0, '{}')",
            [],
        )
        .unwrap();
        conn
    }

    fn sub(endpoint: &str, auth: &str) -> PushSubscription {
        PushSubscription {
            handle: Handle::parse("bob").unwrap(),
            endpoint: endpoint.to_owned(),
            p256dh: "p".to_owned(),
            auth: auth.to_owned(),
        }
    }

    #[test]
    fn cap_evicts_the_least_recently_registered() {
        let conn = db();
        for i in 0..3 {
            let out = upsert(&conn, &sub(&format!("https://p/{i}"), "a"), 3, 100 + i).unwrap();
            assert_eq!(
                out,
                SubscribeOutcome {
                    created: true,
                    evicted: 0
                }
            );
        }
        // refreshing #0 makes #1 the oldest
        let out = upsert(&conn, &sub("https://p/0", "b"), 3, 200).unwrap();
        assert!(!out.created);
        let out = upsert(&conn, &sub("https://p/3", "a"), 3, 201).unwrap();
        assert_eq!(out.evicted, 1);
        let left: Vec<String> = conn
            .prepare("SELECT endpoint FROM push_subscriptions ORDER BY endpoint")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(left, ["https://p/0", "https://p/2", "https://p/3"]);
    }
}
