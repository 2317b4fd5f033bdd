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
/// Steps run with `secure_delete` on (what they delete is overwritten with
/// zeros), and after any step the WAL is checkpointed into the main file
/// and truncated, so no page from before a step (such as migration 12's
/// salt) stays in the `.db` file or the `-wal` file: best effort, a
/// checkpoint blocked by another connection is logged at WARN.
pub(super) fn apply(conn: &mut Connection) -> anyhow::Result<()> {
    let secure_delete: i64 = conn.pragma_query_value(None, "secure_delete", |r| r.get(0))?;
    conn.pragma_update(None, "secure_delete", 1)?;
    let applied = apply_steps(conn);
    conn.pragma_update(None, "secure_delete", secure_delete)?;
    if applied? > 0 {
        checkpoint(conn);
    }
    Ok(())
}

/// Applies the pending steps; returns how many ran.
fn apply_steps(conn: &mut Connection) -> anyhow::Result<usize> {
    let mut applied = 0;
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
            return Ok(applied);
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i64::try_from(current + 1)?)?;
        tx.commit()?;
        applied += 1;
        tracing::info!(version = current + 1, "applied database migration");
    }
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`: copies every WAL frame into the main
/// file and empties the WAL. Another connection reading or writing can
/// block it (after the busy timeout): WARN and go on, the next checkpoint
/// (automatic, or at the last close) finishes the job.
fn checkpoint(conn: &Connection) {
    let done = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    });
    match done {
        Ok(0) => {}
        Ok(_) => tracing::warn!(
            "checkpoint after a migration blocked by another connection; \
             pages from before it stay in the database file until the next checkpoint"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            "checkpoint after a migration failed; \
             pages from before it stay in the database file until the next checkpoint"
        ),
    }
}

#[cfg(test)]
mod tests;
