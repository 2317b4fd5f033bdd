//! A mailbox as its owner reads it: pages with the mailbox's newest seq (so
//! a cursor ahead of it can be told apart, SPEC §7.3), and releasing what
//! the owner's devices already have (SPEC §7.5).

use rusqlite::{Connection, OptionalExtension, params};

use super::messages::list_after;
use super::{Result, Seq, Store, StoredMessage};
use crate::kez::Handle;

/// One page of a mailbox, read in one snapshot.
#[derive(Debug)]
pub struct Page {
    /// Messages with `seq > since`, oldest first.
    pub messages: Vec<StoredMessage>,
    /// The highest seq the mailbox ever assigned (0 when none). A cursor
    /// above it is ahead of the mailbox (a server restored from a backup).
    pub newest: Seq,
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
        self.read(move |conn| {
            let tx = conn.unchecked_transaction()?;
            let messages = list_after(&tx, &recipient, since, limit, max_bytes)?;
            let newest = newest_seq(&tx, &recipient)?;
            tx.finish()?;
            Ok(Page { messages, newest })
        })
        .await
    }

    /// The highest seq `recipient`'s mailbox ever assigned (0 when none).
    pub async fn newest_seq(&self, recipient: Handle) -> Result<Seq> {
        self.read(move |conn| newest_seq(conn, &recipient)).await
    }
}

fn newest_seq(conn: &Connection, recipient: &Handle) -> Result<Seq> {
    Ok(conn
        .query_row(
            "SELECT last_seq FROM mailboxes WHERE handle = ?1",
            params![recipient],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(Seq::ZERO))
}
