//! Schema migrations, tracked with `PRAGMA user_version` and applied in order
//! at startup before the server binds.

use rusqlite::Connection;

/// Each entry moves the schema from version `i` to `i + 1`. Never edit a
/// released entry; append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: handle registry
    "CREATE TABLE handles (
        handle        TEXT PRIMARY KEY,        -- registered handle, lower case (SPEC §3)
        primary_key   TEXT NOT NULL UNIQUE,    -- 'ed25519:<hex>' that signed the registration
        registered_at INTEGER NOT NULL,        -- unix seconds when the server accepted it
        envelope      TEXT NOT NULL            -- the signed registration envelope, kept as proof
    ) STRICT;",
    // 2: mailboxes and messages
    "CREATE TABLE mailboxes (
        handle    TEXT PRIMARY KEY REFERENCES handles(handle) ON DELETE CASCADE,
        last_seq  INTEGER NOT NULL DEFAULT 0,  -- highest seq ever assigned; never reused
        msg_count INTEGER NOT NULL DEFAULT 0,  -- messages currently stored (quota)
        msg_bytes INTEGER NOT NULL DEFAULT 0   -- envelope bytes currently stored (quota)
    ) STRICT;
    CREATE TABLE messages (
        recipient   TEXT NOT NULL REFERENCES handles(handle) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,          -- per-recipient, strictly increasing
        client_id   TEXT NOT NULL,             -- sender-chosen id; (recipient, client_id) is idempotent
        envelope    TEXT NOT NULL,             -- opaque end-to-end-encrypted JSON object
        size        INTEGER NOT NULL,          -- length of envelope in bytes
        received_at INTEGER NOT NULL,          -- unix seconds when stored
        PRIMARY KEY (recipient, seq),
        UNIQUE (recipient, client_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX messages_by_age ON messages(received_at);",
    // 3: Web Push (SPEC §10): the VAPID key pair and per-handle subscriptions
    "CREATE TABLE vapid_keys (
        id          INTEGER PRIMARY KEY CHECK (id = 1), -- exactly one row: the server's key
        private_key TEXT NOT NULL,             -- P-256 private scalar, 32 bytes base64url (no padding)
        created_at  INTEGER NOT NULL           -- unix seconds when first generated
    ) STRICT;
    CREATE TABLE push_subscriptions (
        handle     TEXT NOT NULL REFERENCES handles(handle) ON DELETE CASCADE,
        endpoint   TEXT NOT NULL,              -- push service URL exactly as the browser gave it
        p256dh     TEXT NOT NULL,              -- browser's P-256 key, 65-byte point base64url (unused: pushes are empty)
        auth       TEXT NOT NULL,              -- browser's 16-byte auth secret base64url (unused: pushes are empty)
        created_at INTEGER NOT NULL,           -- unix seconds of the first registration
        updated_ms INTEGER NOT NULL,           -- unix milliseconds of the latest (re-)registration; oldest is evicted first
        PRIMARY KEY (handle, endpoint)
    ) STRICT, WITHOUT ROWID;",
    // 4: who sent a stored message, for the per-sender share of a mailbox (SPEC §7.5)
    "ALTER TABLE messages ADD COLUMN
        sender TEXT NOT NULL DEFAULT '';       -- hash of the sender's IP (/64) keyed by meta.sender_salt, '' when unknown
    CREATE INDEX messages_by_sender ON messages(recipient, sender, size);",
    // 5: server-wide values, such as the salt of senders' hashes (SPEC §7.5)
    "CREATE TABLE meta (
        key   TEXT PRIMARY KEY,                -- 'sender_salt': 16 random bytes, created once at Store::open
        value BLOB NOT NULL
    ) STRICT, WITHOUT ROWID;",
    // 6: public profiles (SPEC §14.5)
    "CREATE TABLE profiles (
        handle     TEXT PRIMARY KEY REFERENCES handles(handle) ON DELETE CASCADE,
        document   TEXT NOT NULL,              -- the signed profile document, the PUT body byte for byte (opaque)
        updated_at INTEGER NOT NULL            -- unix seconds of its payload.updated_at; only a newer one replaces it
    ) STRICT, WITHOUT ROWID;",
    // 7: a profile's entity tag, computed once when it is stored (SPEC §14.5), not on every public GET
    "ALTER TABLE profiles ADD COLUMN
        etag TEXT NOT NULL DEFAULT '';         -- \"<b64url SHA-256 of document>\"; '' for rows stored before this column",
    // 8: messages as a rowid table with the envelope last (issue 14). The WITHOUT ROWID row of
    //    migration 2 spilled every ~1.2 KB envelope onto an overflow page of its own (4 KB per
    //    message); a rowid row keeps it on the leaf page. Rows are copied as they are (same seqs,
    //    ids, senders, times) in this migration's one transaction; the keys become UNIQUE indexes.
    "CREATE TABLE messages_v8 (
        recipient   TEXT NOT NULL REFERENCES handles(handle) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,          -- per-recipient, strictly increasing
        client_id   TEXT NOT NULL,             -- sender-chosen id; (recipient, client_id) is idempotent
        size        INTEGER NOT NULL,          -- length of envelope in bytes
        received_at INTEGER NOT NULL,          -- unix seconds when stored
        sender      TEXT NOT NULL DEFAULT '',  -- hash of the sender's IP (/64) keyed by meta.sender_salt, '' when unknown
        envelope    TEXT NOT NULL,             -- opaque end-to-end-encrypted JSON object; last, so quota and purge reads skip it
        UNIQUE (recipient, seq),
        UNIQUE (recipient, client_id)
    ) STRICT;
    INSERT INTO messages_v8 (recipient, seq, client_id, size, received_at, sender, envelope)
        SELECT recipient, seq, client_id, size, received_at, sender, envelope
        FROM messages ORDER BY recipient, seq;
    DROP TABLE messages;
    ALTER TABLE messages_v8 RENAME TO messages;
    CREATE INDEX messages_by_age ON messages(received_at);
    CREATE INDEX messages_by_sender ON messages(recipient, sender, size);",
    // 9: sigchains (SPEC §15), append-only; a key's links are read whole, in seq order
    "CREATE TABLE sigchain_links (
        primary_key TEXT NOT NULL,             -- 'ed25519:<hex>' whose chain this is (payload.primary)
        seq         INTEGER NOT NULL,          -- 1-based position; consecutive, checked before the insert
        hash        TEXT NOT NULL,             -- lowercase hex SHA-256 of the link's JCS (its name in prev/revoke)
        created_at  INTEGER NOT NULL,          -- unix seconds of payload.created_at
        envelope    TEXT NOT NULL,             -- the link as posted, byte for byte (opaque)
        PRIMARY KEY (primary_key, seq)
    ) STRICT;",
    // 10: what each sender holds in each mailbox (SPEC §7.5's share), kept by triggers on every
    //    insert and delete (posts, releases, purges, replicas on older binaries alike), so a post
    //    reads one row instead of counting the sender's messages (~40 µs at 3k rows, issue 14).
    "CREATE TABLE mailbox_senders (
        recipient TEXT NOT NULL,               -- the mailbox's handle (messages.recipient)
        sender    TEXT NOT NULL,               -- as messages.sender
        msg_count INTEGER NOT NULL,            -- that sender's messages stored in the mailbox (> 0)
        msg_bytes INTEGER NOT NULL,            -- their sizes summed (messages.size)
        PRIMARY KEY (recipient, sender)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO mailbox_senders (recipient, sender, msg_count, msg_bytes)
        SELECT recipient, sender, count(*), sum(size) FROM messages GROUP BY recipient, sender;
    CREATE TRIGGER messages_count_sender AFTER INSERT ON messages BEGIN
        INSERT INTO mailbox_senders (recipient, sender, msg_count, msg_bytes)
            VALUES (NEW.recipient, NEW.sender, 1, NEW.size)
            ON CONFLICT (recipient, sender) DO UPDATE
            SET msg_count = msg_count + 1, msg_bytes = msg_bytes + excluded.msg_bytes;
    END;
    CREATE TRIGGER messages_uncount_sender AFTER DELETE ON messages BEGIN
        UPDATE mailbox_senders SET msg_count = msg_count - 1, msg_bytes = msg_bytes - OLD.size
            WHERE recipient = OLD.recipient AND sender = OLD.sender;
        DELETE FROM mailbox_senders
            WHERE recipient = OLD.recipient AND sender = OLD.sender AND msg_count <= 0;
    END;
    DROP INDEX messages_by_sender;",
    // 11: nostr event ids claimed by a listener before it pushes (SPEC §12, TODO #141): the
    //    instances sharing this file push once per event between them, and a restarted server's
    //    fresh subscriptions (60 s lookback) push nothing twice. Pruned to the last 10 minutes
    //    of claims as claims are written; read by nothing but the listeners.
    "CREATE TABLE nostr_seen (
        id      BLOB PRIMARY KEY,              -- the event id, 32 bytes (NIP-01)
        seen_at INTEGER NOT NULL               -- unix seconds when it was claimed
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX nostr_seen_by_time ON nostr_seen(seen_at);",
    // 12: forget the sender salt (TODO #212). Senders' tags are now HMACs under keys kept in a
    //    ring file outside the database (src/sender_keys.rs, SPEC §7.5), because with the salt
    //    in this file a copy of it gave back each sender's IPv4 address by brute force. The salt
    //    is overwritten before the row goes, so its bytes do not linger in the freed cell. Tags
    //    stored before this step stop counting toward their sender's share: a one-time reset,
    //    over within one retention period, when those messages expire. The `meta` table stays.
    "UPDATE meta SET value = zeroblob(length(value)) WHERE key = 'sender_salt';
    DELETE FROM meta WHERE key = 'sender_salt';",
];

/// Brings the schema up to date; fails if the file is newer than this binary.
/// Each step reads the version inside a write-locked transaction, so two
/// instances starting on one fresh file (SPEC §11) apply each step once.
pub(super) fn apply(conn: &mut Connection) -> anyhow::Result<()> {
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let current = usize::try_from(current).unwrap_or(usize::MAX);
        anyhow::ensure!(
            current <= MIGRATIONS.len(),
            "database schema version {current} is newer than this binary knows ({})",
            MIGRATIONS.len()
        );
        let Some(sql) = MIGRATIONS.get(current) else {
            return Ok(());
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i64::try_from(current + 1)?)?;
        tx.commit()?;
        tracing::info!(version = current + 1, "applied database migration");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        apply(&mut conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(usize::try_from(v).unwrap(), MIGRATIONS.len());
    }

    #[test]
    fn instances_starting_together_on_a_fresh_file_migrate_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fresh.db");
        let results: Vec<anyhow::Result<()>> = std::thread::scope(|s| {
            let starts: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut conn = Connection::open(&path)?;
                        conn.busy_timeout(std::time::Duration::from_secs(10))?;
                        apply(&mut conn)
                    })
                })
                .collect();
            starts.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in results {
            r.unwrap();
        }
        let v: i64 = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(usize::try_from(v).unwrap(), MIGRATIONS.len());
    }

    /// A database made before migration 8 (messages `WITHOUT ROWID`) still
    /// serves its messages with the same seqs, ids and envelopes, keeps
    /// retries idempotent, the per-sender share (counted by migration 10)
    /// and retention working.
    #[tokio::test]
    async fn messages_stored_before_the_rowid_table_keep_their_seqs() {
        use crate::kez::Handle;
        use crate::store::{MailboxLimits, NewMessage, SenderTags, Seq, Store, StoreError};
        use serde_json::value::RawValue;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v7.db");
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..7] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 7).unwrap();
            conn.execute_batch(&format!(
                "INSERT INTO handles VALUES ('alice', 'ed25519:{}', 1, '{{}}');
                 INSERT INTO mailboxes VALUES ('alice', 9, 3, 24);
                 INSERT INTO messages (recipient, seq, client_id, envelope, size, received_at, sender)
                 VALUES ('alice', 2, 'm-2', '{{\"n\":2}}', 7, 100, 's1'),
                        ('alice', 5, 'm-5', '{{\"n\":5}}', 7, 200, 's1'),
                        ('alice', 9, 'm-9', '{{\"n\":99}}', 8, 300, '');",
                "11".repeat(32)
            ))
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let schema: String = Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'messages'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!schema.contains("WITHOUT ROWID"), "{schema}");
        let alice = Handle::parse("alice").unwrap();
        let page = store
            .page_after(alice.clone(), Seq::ZERO, 10, 1 << 20)
            .await
            .unwrap();
        let got: Vec<_> = page
            .messages
            .iter()
            .map(|m| (m.seq.get(), m.id.as_str(), m.envelope.get(), m.received_at))
            .collect();
        assert_eq!(
            got,
            [
                (2, "m-2", r#"{"n":2}"#, 100),
                (5, "m-5", r#"{"n":5}"#, 200),
                (9, "m-9", r#"{"n":99}"#, 300)
            ]
        );
        assert_eq!(
            (page.newest.get(), page.msg_count, page.msg_bytes),
            (9, 3, 24)
        );

        let limits = MailboxLimits {
            max_messages: 4,
            max_bytes: 1 << 20,
            sender_share_percent: 50,
            accept_new: true,
        };
        let post = |id: &str, sender: &str| {
            let msg = NewMessage {
                recipient: alice.clone(),
                client_id: id.to_owned(),
                sender: SenderTags::single(sender),
                envelope: RawValue::from_string(r#"{"n":0}"#.to_owned()).unwrap(),
            };
            store.post_message(msg, limits, 400, |_| {})
        };
        let retry = post("m-5", "s1").await.unwrap();
        assert_eq!((retry.seq.get(), retry.created), (5, false));
        // s1 already holds its half of the 4-message mailbox.
        assert!(matches!(
            post("m-new", "s1").await,
            Err(StoreError::MailboxFull)
        ));
        let fresh = post("m-10", "").await.unwrap();
        assert_eq!((fresh.seq.get(), fresh.created), (10, true));

        assert_eq!(store.purge_messages_before(250).await.unwrap(), 2);
        let page = store
            .page_after(alice.clone(), Seq::ZERO, 10, 1 << 20)
            .await
            .unwrap();
        let seqs: Vec<u64> = page.messages.iter().map(|m| m.seq.get()).collect();
        assert_eq!((seqs, page.msg_count), (vec![9, 10], 2));
        // The purge gave s1's share back (migration 10's counters follow deletes).
        let again = post("m-11", "s1").await.unwrap();
        assert_eq!((again.seq.get(), again.created), (11, true));
        store.close().await;
    }

    /// Migration 12 leaves no sender salt in the file (TODO #212).
    #[test]
    fn the_sender_salt_is_forgotten() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..11] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 11).unwrap();
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('sender_salt', ?1)",
            [[7u8; 16].as_slice()],
        )
        .unwrap();
        apply(&mut conn).unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM meta", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        assert!(apply(&mut conn).is_err());
    }
}
