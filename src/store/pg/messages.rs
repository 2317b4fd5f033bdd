//! Mailboxes on PostgreSQL (as `store::messages`, `store::mailbox`). A
//! post (`kez_post`, schema migration 2) locks its mailbox's row before
//! anything else, so posts to one mailbox from any instance take turns:
//! seqs stay gapless and in commit order, quotas exact, and a retried id
//! finds the first copy.

use serde_json::value::RawValue;

use super::{Pg, big, big_len, count, refuse_full, retrying};
use crate::kez::Handle;
use crate::store::{
    MailboxLimits, NewMessage, Page, PostOutcome, Result, Seq, StoreError, StoredMessage,
};

const LIST_AFTER: &str = "SELECT seq, client_id, envelope, received_at FROM messages
     WHERE recipient = $1 AND seq > $2 ORDER BY seq LIMIT $3";

/// The mailbox row (NULLs when there is none) beside each message of the
/// page (one row with NULL message columns when there is none).
const PAGE_AFTER: &str = "SELECT b.last_seq, b.msg_count, b.msg_bytes,
            m.seq, m.client_id, m.envelope, m.received_at
     FROM (SELECT 1) AS one
     LEFT JOIN mailboxes b ON b.handle = $1
     LEFT JOIN LATERAL (SELECT seq, client_id, envelope, received_at FROM messages
                        WHERE recipient = $1 AND seq > $2 ORDER BY seq LIMIT $3) m ON true
     ORDER BY m.seq";

impl Pg {
    /// See `Store::post_message`: the stored message is returned when it is
    /// new, for the caller to publish after the commit. One round trip:
    /// `kez_post` (schema migration 2) does the checks and the insert in
    /// its own transaction.
    pub(in crate::store) async fn post_message(
        &self,
        msg: &NewMessage,
        limits: MailboxLimits,
        now: i64,
    ) -> Result<(PostOutcome, Option<StoredMessage>)> {
        let size = u64::try_from(msg.envelope.get().len()).unwrap_or(u64::MAX);
        let row = retrying(|| async {
            let client = self.client().await?;
            let post = client
                .prepare_cached(
                    "SELECT outcome, seq, received_at
                     FROM kez_post($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .await?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 11] = [
                &msg.recipient.as_str(),
                &msg.client_id,
                &msg.envelope.get(),
                &big(size),
                &now,
                &msg.sender.current,
                &msg.sender.older,
                &big(limits.max_messages),
                &big(limits.max_bytes),
                &big(limits.sender_share_percent),
                &limits.accept_new,
            ];
            client.query_one(&post, &params).await.map_err(refuse_full)
        })
        .await?;
        let outcome = match row.get::<_, &str>(0) {
            "created" => {
                self.wrote();
                true
            }
            "exists" => false,
            "unknown_recipient" => return Err(StoreError::UnknownRecipient),
            "storage_full" => return Err(StoreError::StorageFull),
            "mailbox_full" => return Err(StoreError::MailboxFull),
            other => return Err(StoreError::Corrupt(format!("kez_post said {other:?}"))),
        };
        let out = PostOutcome {
            seq: Seq::new(count(row.get(1))?),
            received_at: row.get(2),
            created: outcome,
        };
        let stored = out.created.then(|| StoredMessage {
            seq: out.seq,
            id: msg.client_id.clone(),
            envelope: msg.envelope.clone(),
            received_at: now,
        });
        Ok((out, stored))
    }

    /// See `Store::messages_after`: one statement, so one snapshot.
    pub(in crate::store) async fn messages_after(
        &self,
        recipient: &Handle,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredMessage>> {
        let client = self.reader().await?;
        let stmt = client.prepare_cached(LIST_AFTER).await?;
        let rows = client
            .query(
                &stmt,
                &[&recipient.as_str(), &big(since.get()), &big_len(limit)],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut bytes = 0usize;
        for r in &rows {
            if !take(r, 0, &mut bytes, max_bytes, &mut out)? {
                break;
            }
        }
        Ok(out)
    }

    /// See `Store::page_after`: the page and the mailbox row in one
    /// statement (one snapshot, one round trip; a stream open's read).
    pub(in crate::store) async fn page_after(
        &self,
        recipient: &Handle,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page> {
        let client = self.reader().await?;
        let stmt = client.prepare_cached(PAGE_AFTER).await?;
        let rows = client
            .query(
                &stmt,
                &[&recipient.as_str(), &big(since.get()), &big_len(limit)],
            )
            .await?;
        let mut page = Page {
            messages: Vec::with_capacity(rows.len()),
            newest: Seq::ZERO,
            msg_count: 0,
            msg_bytes: 0,
        };
        if let Some(r) = rows.first()
            && let Some(last_seq) = r.get::<_, Option<i64>>(0)
        {
            page.newest = Seq::new(count(last_seq)?);
            page.msg_count = count(r.get(1))?;
            page.msg_bytes = count(r.get(2))?;
        }
        let mut bytes = 0usize;
        for r in &rows {
            if r.get::<_, Option<i64>>(3).is_none()
                || !take(r, 3, &mut bytes, max_bytes, &mut page.messages)?
            {
                break;
            }
        }
        Ok(page)
    }

    /// One chunk of `Store::purge_messages_before`: up to `limit` of the
    /// oldest messages stored before `cutoff` (`kez_purge`, migration 3);
    /// returns how many went.
    pub(in crate::store) async fn purge_chunk(&self, cutoff: i64, limit: usize) -> Result<usize> {
        self.run_count("SELECT kez_purge($1, $2)", &[&cutoff, &big_len(limit)])
            .await
    }

    /// One chunk of `Store::release_through`: up to `limit` of the
    /// mailbox's oldest messages with `seq <= through` (`kez_release`).
    pub(in crate::store) async fn release_chunk(
        &self,
        recipient: &Handle,
        through: Seq,
        limit: usize,
    ) -> Result<usize> {
        self.run_count(
            "SELECT kez_release($1, $2, $3)",
            &[&recipient.as_str(), &big(through.get()), &big_len(limit)],
        )
        .await
    }

    /// Runs a function call that answers how many rows it deleted.
    async fn run_count(
        &self,
        call: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<usize> {
        let n: i64 = retrying(|| async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(call).await?;
            Ok(client.query_one(&stmt, params).await?.get(0))
        })
        .await?;
        self.wrote();
        usize::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} rows deleted")))
    }
}

/// Adds the message in columns `at..at + 4` of `r` (seq, id, envelope,
/// time) unless the page already holds `max_bytes` of envelopes (SQLite's
/// `list_after`: the message that crosses the bound is still taken, so a
/// page is never empty); false when it stopped.
fn take(
    r: &tokio_postgres::Row,
    at: usize,
    bytes: &mut usize,
    max_bytes: usize,
    out: &mut Vec<StoredMessage>,
) -> Result<bool> {
    if *bytes >= max_bytes {
        return Ok(false);
    }
    let envelope: String = r.get(at + 2);
    *bytes = bytes.saturating_add(envelope.len());
    let envelope = RawValue::from_string(envelope)
        .map_err(|e| StoreError::Corrupt(format!("stored envelope is not JSON: {e}")))?;
    out.push(StoredMessage {
        seq: Seq::new(count(r.get(at))?),
        id: r.get(at + 1),
        envelope,
        received_at: r.get(at + 3),
    });
    Ok(true)
}
