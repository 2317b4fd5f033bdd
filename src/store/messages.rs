//! Mailboxes: the stored, opaque message envelopes per recipient.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{Result, Seq, Store, StoreError};
use crate::kez::Handle;

/// A message as delivered to the recipient (one element of the inbox `messages` array).
#[derive(Debug, Serialize)]
pub struct StoredMessage {
    /// Per-recipient sequence number.
    pub seq: Seq,
    /// The client's message id.
    pub id: String,
    /// The opaque envelope, embedded verbatim.
    pub envelope: Box<RawValue>,
    /// RFC 3339, whole seconds.
    #[serde(serialize_with = "crate::time::serialize_unix")]
    pub received_at: i64,
}

/// A message about to be stored.
pub struct NewMessage {
    /// Recipient handle (registered).
    pub recipient: Handle,
    /// Client message id (validated).
    pub client_id: String,
    /// Who sent it, as opaque tags counted against the per-sender share
    /// of the mailbox (`sender_keys`: HMACs of the client's network).
    pub sender: SenderTags,
    /// The envelope exactly as the client sent it (a JSON object).
    pub envelope: Box<RawValue>,
}

/// A sender's tags under the ring of sender keys (SPEC §7.5): `current`
/// (`h:` + 12 hex digits, under the current epoch's key) is stored with the
/// message; `older` (under the ring's other keys) only count what the same
/// sender already holds, so its share survives a key rotation. An empty
/// `current` is not counted at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderTags {
    /// The tag stored in `messages.sender`; empty: unknown sender.
    pub current: String,
    /// The same sender's tags under the ring's other keys, newest first.
    pub older: Vec<String>,
}

impl SenderTags {
    /// A sender known by one tag only (no older keys).
    pub fn single(tag: impl Into<String>) -> Self {
        Self {
            current: tag.into(),
            older: Vec::new(),
        }
    }
}

/// What a post did.
#[derive(Debug, Clone)]
pub struct PostOutcome {
    /// The message's seq (the original one for a retry).
    pub seq: Seq,
    /// When it was first stored.
    pub received_at: i64,
    /// False when `(recipient, id)` was already stored.
    pub created: bool,
}

/// Per-recipient storage quota, and whether the server takes new messages
/// at all.
#[derive(Debug, Clone, Copy)]
pub struct MailboxLimits {
    /// Most stored messages.
    pub max_messages: u64,
    /// Most stored envelope bytes.
    pub max_bytes: u64,
    /// Percent (1-100) of both quotas one sender may hold; 100: no share.
    pub sender_share_percent: u64,
    /// False while the disk is almost full: new messages get `storage_full`,
    /// but a retry of one already stored still gets its original seq.
    pub accept_new: bool,
}

impl Store {
    /// Durably stores a message (idempotent on `(recipient, client_id)`), then
    /// runs `after_commit` with the stored message on the writer thread, in
    /// commit order, only if it was new.
    pub async fn post_message(
        &self,
        msg: NewMessage,
        limits: MailboxLimits,
        now: i64,
        after_commit: impl FnOnce(StoredMessage) + Send + 'static,
    ) -> Result<PostOutcome> {
        if let Some(pg) = self.pg() {
            let (outcome, stored) = pg.post_message(&msg, limits, now).await?;
            if let Some(m) = stored {
                after_commit(m);
            }
            return Ok(outcome);
        }
        self.write(
            move |conn| insert_message(conn, msg, limits, now),
            move |(outcome, stored): &(PostOutcome, Option<StoredMessage>)| {
                if let (true, Some(m)) = (outcome.created, stored) {
                    after_commit(StoredMessage {
                        seq: m.seq,
                        id: m.id.clone(),
                        envelope: m.envelope.clone(),
                        received_at: m.received_at,
                    });
                }
            },
        )
        .await
        .map(|(outcome, _)| outcome)
    }

    /// Messages for `recipient` with `seq > since`, oldest first.
    pub async fn messages_after(
        &self,
        recipient: Handle,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredMessage>> {
        if let Some(pg) = self.pg() {
            return pg.messages_after(&recipient, since, limit, max_bytes).await;
        }
        self.read(move |conn| list_after(conn, &recipient, since, limit, max_bytes))
            .await
    }

    /// Deletes messages stored before `cutoff` (unix seconds); returns how
    /// many. Works in chunks of [`PURGE_CHUNK`], each its own write job, so
    /// posts are committed in between instead of queueing behind one huge
    /// delete.
    pub async fn purge_messages_before(&self, cutoff: i64) -> Result<usize> {
        let mut total = 0;
        loop {
            let n = if let Some(pg) = self.pg() {
                pg.purge_chunk(cutoff, PURGE_CHUNK).await?
            } else {
                self.write(move |conn| purge_chunk(conn, cutoff, PURGE_CHUNK), |_| {})
                    .await?
            };
            total += n;
            if n < PURGE_CHUNK {
                return Ok(total);
            }
        }
    }
}

fn insert_message(
    conn: &Connection,
    msg: NewMessage,
    limits: MailboxLimits,
    now: i64,
) -> Result<(PostOutcome, Option<StoredMessage>)> {
    if let Some(outcome) = already_stored(conn, &msg)? {
        return Ok((outcome, None));
    }
    let (seq, size) = next_seq_within_quota(conn, &msg, limits)?;
    conn.prepare_cached(
        "INSERT INTO messages (recipient, seq, client_id, envelope, size, received_at, sender)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        msg.recipient,
        seq,
        msg.client_id,
        msg.envelope.get(),
        size,
        now,
        msg.sender.current
    ])?;
    conn.prepare_cached(
        "UPDATE mailboxes SET last_seq = ?2, msg_count = msg_count + 1, msg_bytes = msg_bytes + ?3
         WHERE handle = ?1",
    )?
    .execute(params![msg.recipient, seq, size])?;
    let outcome = PostOutcome {
        seq,
        received_at: now,
        created: true,
    };
    let stored = StoredMessage {
        seq,
        id: msg.client_id,
        envelope: msg.envelope,
        received_at: now,
    };
    Ok((outcome, Some(stored)))
}

/// The outcome of the first post when `msg`'s id is already stored (a retry).
fn already_stored(conn: &Connection, msg: &NewMessage) -> Result<Option<PostOutcome>> {
    let existing = conn
        .prepare_cached(
            "SELECT seq, received_at FROM messages WHERE recipient = ?1 AND client_id = ?2",
        )?
        .query_row(params![msg.recipient, msg.client_id], |r| {
            Ok((r.get::<_, Seq>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?;
    Ok(existing.map(|(seq, received_at)| PostOutcome {
        seq,
        received_at,
        created: false,
    }))
}

/// The seq and size `msg` gets, once the recipient exists and it fits the
/// disk, the mailbox quotas and its sender's share.
fn next_seq_within_quota(
    conn: &Connection,
    msg: &NewMessage,
    limits: MailboxLimits,
) -> Result<(Seq, u64)> {
    let (last_seq, count, bytes): (Seq, u64, u64) = conn
        .prepare_cached("SELECT last_seq, msg_count, msg_bytes FROM mailboxes WHERE handle = ?1")?
        .query_row(params![msg.recipient], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?
        .ok_or(StoreError::UnknownRecipient)?;
    if !limits.accept_new {
        return Err(StoreError::StorageFull);
    }
    // Saturating: a size beyond u64 is over any quota.
    let size = u64::try_from(msg.envelope.get().len()).unwrap_or(u64::MAX);
    if count >= limits.max_messages || bytes.saturating_add(size) > limits.max_bytes {
        return Err(StoreError::MailboxFull);
    }
    check_sender_share(conn, msg, size, limits)?;
    let seq = last_seq
        .next()
        .ok_or_else(|| StoreError::Corrupt("the mailbox's seq is exhausted".to_owned()))?;
    Ok((seq, size))
}

/// `MailboxFull` when the message's sender already holds its share
/// (`sender_share_percent` of the message and of the byte quota, at least
/// one message) of the recipient's mailbox, counting what it holds under
/// each of its tags (the ring's every key).
fn check_sender_share(
    conn: &Connection,
    msg: &NewMessage,
    size: u64,
    limits: MailboxLimits,
) -> Result<()> {
    let tags = &msg.sender;
    if tags.current.is_empty() || limits.sender_share_percent >= 100 {
        return Ok(());
    }
    // Kept by triggers on `messages` (migration 10); no row: nothing held.
    let mut held_by = conn.prepare_cached(
        "SELECT msg_count, msg_bytes FROM mailbox_senders WHERE recipient = ?1 AND sender = ?2",
    )?;
    let (mut held, mut held_bytes) = (0u64, 0u64);
    for tag in std::iter::once(&tags.current).chain(&tags.older) {
        let (count, bytes): (u64, u64) = held_by
            .query_row(params![msg.recipient, tag], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((0, 0));
        held = held.saturating_add(count);
        held_bytes = held_bytes.saturating_add(bytes);
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

/// At most `limit` messages after `since`, in seq order, stopping early once
/// the envelopes reach `max_bytes` (the page then ends with the message that
/// crossed it, so every page holds at least one message).
const LIST_AFTER: &str = "SELECT seq, client_id, envelope, received_at FROM messages
     WHERE recipient = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";

pub(super) fn list_after(
    conn: &Connection,
    recipient: &Handle,
    since: Seq,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<StoredMessage>> {
    let mut stmt = conn.prepare_cached(LIST_AFTER)?;
    // A cursor beyond what SQLite can store is after every stored message.
    let since = i64::try_from(since.get()).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![recipient, since, limit], |r| {
        Ok((
            r.get::<_, Seq>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for row in rows {
        if bytes >= max_bytes {
            break;
        }
        let (seq, id, envelope, received_at) = row?;
        bytes = bytes.saturating_add(envelope.len());
        let envelope = RawValue::from_string(envelope)
            .map_err(|e| StoreError::Corrupt(format!("stored envelope is not JSON: {e}")))?;
        out.push(StoredMessage {
            seq,
            id,
            envelope,
            received_at,
        });
    }
    Ok(out)
}

/// Messages deleted per retention write job.
pub const PURGE_CHUNK: usize = 1000;

/// Deletes up to `limit` of the oldest messages stored before `cutoff` and
/// keeps the mailbox counters in step, in one transaction.
fn purge_chunk(conn: &Connection, cutoff: i64, limit: usize) -> Result<usize> {
    let mut freed: HashMap<Handle, (u64, u64)> = HashMap::new();
    let mut deleted = 0;
    let mut delete = conn.prepare_cached(
        "DELETE FROM messages WHERE (recipient, seq) IN
           (SELECT recipient, seq FROM messages WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)
         RETURNING recipient, size",
    )?;
    let mut rows = delete.query(params![cutoff, limit])?;
    while let Some(row) = rows.next()? {
        let entry = freed.entry(row.get(0)?).or_default();
        entry.0 += 1;
        entry.1 += row.get::<_, u64>(1)?;
        deleted += 1;
    }
    let mut update = conn.prepare_cached(
        "UPDATE mailboxes SET msg_count = msg_count - ?2, msg_bytes = msg_bytes - ?3 WHERE handle = ?1",
    )?;
    for (handle, (count, bytes)) in freed {
        update.execute(params![handle, count, bytes])?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    /// A cached statement with `LIMIT ?` must not be parsed again on each
    /// call with another limit (the reprepare `perf` found on stream opens).
    #[test]
    fn a_cached_page_read_is_not_prepared_again_per_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        drop(super::super::Store::open(&path).unwrap());
        let conn = super::super::open_reader(&path).unwrap();
        let alice = Handle::parse("alice").unwrap();
        for limit in [10, 11, 500, 10] {
            list_after(&conn, &alice, Seq::ZERO, limit, 1 << 20).unwrap();
        }
        let stmt = conn.prepare_cached(LIST_AFTER).unwrap();
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
    }
}
