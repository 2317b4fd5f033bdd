//! Mailboxes on PostgreSQL (as `store::messages`, `store::mailbox`). A
//! post locks its mailbox's row before anything else, so posts to one
//! mailbox from any instance take turns: seqs stay gapless and in commit
//! order, quotas exact, and a retried id finds the first copy.

use std::collections::BTreeMap;

use deadpool_postgres::Transaction;
use serde_json::value::RawValue;

use super::{Pg, big, big_len, count, refuse_full, retrying};
use crate::kez::Handle;
use crate::store::{
    MailboxLimits, NewMessage, Page, PostOutcome, Result, Seq, StoreError, StoredMessage,
};

const LIST_AFTER: &str = "SELECT seq, client_id, envelope, received_at FROM messages
     WHERE recipient = $1 AND seq > $2 ORDER BY seq LIMIT $3";

impl Pg {
    /// See `Store::post_message`: the stored message is returned when it is
    /// new, for the caller to publish after the commit.
    pub(in crate::store) async fn post_message(
        &self,
        msg: &NewMessage,
        limits: MailboxLimits,
        now: i64,
    ) -> Result<(PostOutcome, Option<StoredMessage>)> {
        retrying(|| async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let out = insert(&tx, msg, limits, now).await?;
            if out.created {
                self.commit(tx).await?;
            }
            Ok(out)
        })
        .await
        .map(|out| {
            let stored = out.created.then(|| StoredMessage {
                seq: out.seq,
                id: msg.client_id.clone(),
                envelope: msg.envelope.clone(),
                received_at: now,
            });
            (out, stored)
        })
    }

    /// See `Store::messages_after`.
    pub(in crate::store) async fn messages_after(
        &self,
        recipient: &Handle,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredMessage>> {
        let mut client = self.reader().await?;
        let tx = client.transaction().await?;
        list_after(&tx, recipient, since, limit, max_bytes).await
    }

    /// See `Store::page_after`: the page and the mailbox row from one
    /// snapshot (REPEATABLE READ).
    pub(in crate::store) async fn page_after(
        &self,
        recipient: &Handle,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page> {
        let mut client = self.reader().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let messages = list_after(&tx, recipient, since, limit, max_bytes).await?;
        let row = tx
            .query_opt(
                "SELECT last_seq, msg_count, msg_bytes FROM mailboxes WHERE handle = $1",
                &[&recipient.as_str()],
            )
            .await?;
        let (newest, msg_count, msg_bytes) = match row {
            Some(r) => (count(r.get(0))?, count(r.get(1))?, count(r.get(2))?),
            None => (0, 0, 0),
        };
        Ok(Page {
            messages,
            newest: Seq::new(newest),
            msg_count,
            msg_bytes,
        })
    }

    /// One chunk of `Store::purge_messages_before`: up to `limit` of the
    /// oldest messages stored before `cutoff`; returns how many went.
    pub(in crate::store) async fn purge_chunk(&self, cutoff: i64, limit: usize) -> Result<usize> {
        retrying(|| async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let rows = tx
                .query(
                    "SELECT recipient, seq FROM messages WHERE received_at < $1
                     ORDER BY received_at LIMIT $2",
                    &[&cutoff, &big_len(limit)],
                )
                .await?;
            let mut by_mailbox: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            for r in &rows {
                by_mailbox.entry(r.get(0)).or_default().push(r.get(1));
            }
            let mut deleted = 0;
            // Mailboxes locked in name order, as every writer of them does.
            for (recipient, seqs) in by_mailbox {
                deleted += delete_and_uncount(&tx, &recipient, &seqs).await?;
            }
            self.commit(tx).await?;
            Ok(deleted)
        })
        .await
    }

    /// One chunk of `Store::release_through`: up to `limit` of the
    /// mailbox's oldest messages with `seq <= through`.
    pub(in crate::store) async fn release_chunk(
        &self,
        recipient: &Handle,
        through: Seq,
        limit: usize,
    ) -> Result<usize> {
        let through = big(through.get());
        retrying(|| async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let seqs: Vec<i64> = tx
                .query(
                    "SELECT seq FROM messages WHERE recipient = $1 AND seq <= $2
                     ORDER BY seq LIMIT $3",
                    &[&recipient.as_str(), &through, &big_len(limit)],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let deleted = delete_and_uncount(&tx, recipient.as_str(), &seqs).await?;
            self.commit(tx).await?;
            Ok(deleted)
        })
        .await
    }
}

/// The post itself, inside `tx`: lock the mailbox, then the retry check,
/// the quotas and the insert, as SQLite's `insert_message`.
async fn insert(
    tx: &Transaction<'_>,
    msg: &NewMessage,
    limits: MailboxLimits,
    now: i64,
) -> Result<PostOutcome> {
    let recipient = msg.recipient.as_str();
    let lock = tx
        .prepare_cached(
            "SELECT last_seq, msg_count, msg_bytes FROM mailboxes WHERE handle = $1 FOR UPDATE",
        )
        .await?;
    let mailbox = tx.query_opt(&lock, &[&recipient]).await?;
    let existing = tx
        .prepare_cached(
            "SELECT seq, received_at FROM messages WHERE recipient = $1 AND client_id = $2",
        )
        .await?;
    if let Some(r) = tx
        .query_opt(&existing, &[&recipient, &msg.client_id])
        .await?
    {
        return Ok(PostOutcome {
            seq: Seq::new(count(r.get(0))?),
            received_at: r.get(1),
            created: false,
        });
    }
    let mailbox = mailbox.ok_or(StoreError::UnknownRecipient)?;
    let (last_seq, held, held_bytes) = (
        count(mailbox.get(0))?,
        count(mailbox.get(1))?,
        count(mailbox.get(2))?,
    );
    if !limits.accept_new {
        return Err(StoreError::StorageFull);
    }
    let size = u64::try_from(msg.envelope.get().len()).unwrap_or(u64::MAX);
    if held >= limits.max_messages || held_bytes.saturating_add(size) > limits.max_bytes {
        return Err(StoreError::MailboxFull);
    }
    check_sender_share(tx, msg, size, limits).await?;
    let seq = last_seq
        .checked_add(1)
        .ok_or_else(|| StoreError::Corrupt("the mailbox's seq is exhausted".to_owned()))?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO messages (recipient, seq, client_id, envelope, size, received_at, sender)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
        &recipient,
        &big(seq),
        &msg.client_id,
        &msg.envelope.get(),
        &big(size),
        &now,
        &msg.sender.current,
    ];
    tx.execute(&insert, &params).await.map_err(refuse_full)?;
    let bump = tx
        .prepare_cached(
            "UPDATE mailboxes SET last_seq = $2, msg_count = msg_count + 1,
             msg_bytes = msg_bytes + $3 WHERE handle = $1",
        )
        .await?;
    tx.execute(&bump, &[&recipient, &big(seq), &big(size)])
        .await
        .map_err(refuse_full)?;
    Ok(PostOutcome {
        seq: Seq::new(seq),
        received_at: now,
        created: true,
    })
}

/// SQLite's `check_sender_share`: what the sender holds under each of its
/// tags, against its share of both quotas.
async fn check_sender_share(
    tx: &Transaction<'_>,
    msg: &NewMessage,
    size: u64,
    limits: MailboxLimits,
) -> Result<()> {
    let tags = &msg.sender;
    if tags.current.is_empty() || limits.sender_share_percent >= 100 {
        return Ok(());
    }
    let held_by = tx
        .prepare_cached(
            "SELECT msg_count, msg_bytes FROM mailbox_senders WHERE recipient = $1 AND sender = $2",
        )
        .await?;
    let (mut held, mut held_bytes) = (0u64, 0u64);
    for tag in std::iter::once(&tags.current).chain(&tags.older) {
        if let Some(r) = tx
            .query_opt(&held_by, &[&msg.recipient.as_str(), tag])
            .await?
        {
            held = held.saturating_add(count(r.get(0))?);
            held_bytes = held_bytes.saturating_add(count(r.get(1))?);
        }
    }
    let share = |quota: u64| {
        let part = u128::from(quota) * u128::from(limits.sender_share_percent) / 100;
        u64::try_from(part).unwrap_or(u64::MAX)
    };
    if held >= share(limits.max_messages).max(1)
        || held_bytes.saturating_add(size) > share(limits.max_bytes)
    {
        return Err(StoreError::MailboxFull);
    }
    Ok(())
}

/// Locks `recipient`'s mailbox, deletes its messages with these seqs (the
/// senders' counts follow by trigger) and takes them off its counters.
async fn delete_and_uncount(tx: &Transaction<'_>, recipient: &str, seqs: &[i64]) -> Result<usize> {
    if seqs.is_empty() {
        return Ok(0);
    }
    tx.execute(
        "SELECT 1 FROM mailboxes WHERE handle = $1 FOR UPDATE",
        &[&recipient],
    )
    .await?;
    let gone = tx
        .query(
            "DELETE FROM messages WHERE recipient = $1 AND seq = ANY($2) RETURNING size",
            &[&recipient, &seqs],
        )
        .await?;
    let bytes: i64 = gone.iter().map(|r| r.get::<_, i64>(0)).sum();
    let n = big_len(gone.len());
    tx.execute(
        "UPDATE mailboxes SET msg_count = msg_count - $2, msg_bytes = msg_bytes - $3
         WHERE handle = $1",
        &[&recipient, &n, &bytes],
    )
    .await?;
    Ok(gone.len())
}

/// At most `limit` messages after `since` in seq order, stopping once the
/// envelopes reach `max_bytes` (SQLite's `list_after`).
async fn list_after(
    tx: &Transaction<'_>,
    recipient: &Handle,
    since: Seq,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<StoredMessage>> {
    let stmt = tx.prepare_cached(LIST_AFTER).await?;
    let since = big(since.get());
    let rows = tx
        .query(&stmt, &[&recipient.as_str(), &since, &big_len(limit)])
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut bytes = 0usize;
    for r in rows {
        if bytes >= max_bytes {
            break;
        }
        let envelope: String = r.get(2);
        bytes = bytes.saturating_add(envelope.len());
        let envelope = RawValue::from_string(envelope)
            .map_err(|e| StoreError::Corrupt(format!("stored envelope is not JSON: {e}")))?;
        out.push(StoredMessage {
            seq: Seq::new(count(r.get(0))?),
            id: r.get(1),
            envelope,
            received_at: r.get(3),
        });
    }
    Ok(out)
}
