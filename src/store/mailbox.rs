//! A mailbox as its owner reads it: pages with the mailbox's newest seq (so
//! a cursor ahead of it can be told apart, SPEC §7.3), and releasing what
//! the owner's devices already have (SPEC §7.5).

use rusqlite::{Connection, OptionalExtension, params};

use super::messages::list_after;
use super::{MailboxLimits, Result, Seq, Store, StoredMessage};
use crate::kez::Handle;

/// One page of a mailbox, read in one snapshot.
#[derive(Debug)]
pub struct Page {
    /// Messages with `seq > since`, oldest first.
    pub messages: Vec<StoredMessage>,
    /// The highest seq the mailbox ever assigned (0 when none). A cursor
    /// above it is ahead of the mailbox (a server restored from a backup).
    pub newest: Seq,
    /// Messages the mailbox holds now (all of them, not just this page).
    pub msg_count: u64,
    /// Envelope bytes the mailbox holds now.
    pub msg_bytes: u64,
}

impl Page {
    /// How full the mailbox is, 0..=100: the larger of its message and byte
    /// quota use, rounded down (SPEC §7.3 `used_percent`).
    pub fn used_percent(&self, limits: &MailboxLimits) -> u8 {
        used_percent(self.msg_count, self.msg_bytes, limits)
    }
}

/// The larger of `count / max_messages` and `bytes / max_bytes` in percent,
/// rounded down and capped at 100 (a quota lowered below what is stored, or
/// a zero quota, reads as full).
fn used_percent(count: u64, bytes: u64, limits: &MailboxLimits) -> u8 {
    fn percent(used: u64, max: u64) -> u64 {
        if max == 0 {
            return if used == 0 { 0 } else { 100 };
        }
        let p = u128::from(used) * 100 / u128::from(max);
        u64::try_from(p.min(100)).unwrap_or(100)
    }
    let p = percent(count, limits.max_messages).max(percent(bytes, limits.max_bytes));
    u8::try_from(p).unwrap_or(100)
}

impl Store {
    /// At most `limit` messages for `recipient` after `since` (stopping once
    /// they reach `max_bytes`), and the mailbox's newest seq, from one
    /// consistent snapshot. Unknown handles read as an empty mailbox.
    pub async fn page_after(
        &self,
        recipient: Handle,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page> {
        if let Some(pg) = self.pg() {
            return pg.page_after(&recipient, since, limit, max_bytes).await;
        }
        self.read(move |conn| {
            super::in_snapshot(conn, |tx| {
                let messages = list_after(tx, &recipient, since, limit, max_bytes)?;
                let (newest, msg_count, msg_bytes) = mailbox_row(tx, &recipient)?;
                Ok(Page {
                    messages,
                    newest,
                    msg_count,
                    msg_bytes,
                })
            })
        })
        .await
    }

    /// Deletes `recipient`'s messages with `seq <= through` (its devices
    /// have them, SPEC §7.5) and frees their quota; returns how many. Works
    /// in chunks of [`super::PURGE_CHUNK`], each its own write job.
    pub async fn release_through(&self, recipient: Handle, through: Seq) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let who = recipient.clone();
            let n = if let Some(pg) = self.pg() {
                pg.release_chunk(&who, through, super::PURGE_CHUNK).await?
            } else {
                self.write(
                    move |conn| release_chunk(conn, &who, through, super::PURGE_CHUNK),
                    |_| {},
                )
                .await?
            };
            total += u64::try_from(n).unwrap_or(u64::MAX);
            if n < super::PURGE_CHUNK {
                return Ok(total);
            }
        }
    }
}

/// The mailbox's newest seq, message count and bytes (zeros when it has
/// no row yet).
fn mailbox_row(conn: &Connection, recipient: &Handle) -> Result<(Seq, u64, u64)> {
    Ok(conn
        .prepare_cached("SELECT last_seq, msg_count, msg_bytes FROM mailboxes WHERE handle = ?1")?
        .query_row(params![recipient], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?
        .unwrap_or((Seq::ZERO, 0, 0)))
}

/// Deletes up to `limit` of `recipient`'s oldest messages with
/// `seq <= through` and keeps the mailbox counters in step.
fn release_chunk(
    conn: &Connection,
    recipient: &Handle,
    through: Seq,
    limit: usize,
) -> Result<usize> {
    // A cursor beyond what SQLite can store is after every stored message.
    let through = i64::try_from(through.get()).unwrap_or(i64::MAX);
    let mut delete = conn.prepare_cached(
        "DELETE FROM messages WHERE recipient = ?1 AND seq IN
           (SELECT seq FROM messages WHERE recipient = ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3)
         RETURNING size",
    )?;
    let (mut count, mut bytes) = (0usize, 0u64);
    let mut rows = delete.query(params![recipient, through, limit])?;
    while let Some(row) = rows.next()? {
        count += 1;
        bytes += row.get::<_, u64>(0)?;
    }
    drop(rows);
    conn.prepare_cached(
        "UPDATE mailboxes SET msg_count = msg_count - ?2, msg_bytes = msg_bytes - ?3 WHERE handle = ?1",
    )?
    .execute(params![recipient, count, bytes])?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_messages: u64, max_bytes: u64) -> MailboxLimits {
        MailboxLimits {
            max_messages,
            max_bytes,
            sender_share_percent: 100,
            accept_new: true,
        }
    }

    #[test]
    fn used_percent_is_the_larger_share_rounded_down() {
        let l = limits(10, 1000);
        assert_eq!(used_percent(0, 0, &l), 0);
        assert_eq!(used_percent(4, 100, &l), 40);
        assert_eq!(used_percent(1, 599, &l), 59);
        assert_eq!(used_percent(5, 0, &l), 50);
        assert_eq!(used_percent(10, 1000, &l), 100);
        assert_eq!(used_percent(u64::MAX, u64::MAX, &l), 100);
        assert_eq!(used_percent(1, 1, &limits(0, 0)), 100);
        assert_eq!(used_percent(0, 0, &limits(0, 0)), 0);
    }
}
