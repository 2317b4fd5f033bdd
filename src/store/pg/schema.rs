//! The PostgreSQL schema: SQLite's (`src/store/migrations.rs`) as it stands
//! after its migration 12, in PostgreSQL's types. Versions are counted in
//! `kez_schema` and applied under a transaction-level advisory lock, so
//! instances starting together migrate once, one after the other.

use anyhow::Context;
use deadpool_postgres::{GenericClient, Object};

/// Each entry moves the schema from version `i` to `i + 1`. Never edit a
/// released entry; append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the whole schema of SQLite migration 12, comments there.
    "CREATE TABLE handles (
        handle        TEXT PRIMARY KEY,
        primary_key   TEXT NOT NULL,
        registered_at BIGINT NOT NULL,
        envelope      TEXT NOT NULL,
        registered_no BIGINT GENERATED ALWAYS AS IDENTITY, -- registration order (SQLite's rowid)
        CONSTRAINT handles_primary_key_key UNIQUE (primary_key)
    );
    CREATE TABLE mailboxes (
        handle    TEXT PRIMARY KEY REFERENCES handles(handle) ON DELETE CASCADE,
        last_seq  BIGINT NOT NULL DEFAULT 0,
        msg_count BIGINT NOT NULL DEFAULT 0,
        msg_bytes BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE messages (
        recipient   TEXT NOT NULL REFERENCES handles(handle) ON DELETE CASCADE,
        seq         BIGINT NOT NULL,
        client_id   TEXT NOT NULL,
        size        BIGINT NOT NULL,
        received_at BIGINT NOT NULL,
        sender      TEXT NOT NULL DEFAULT '',
        envelope    TEXT NOT NULL,
        PRIMARY KEY (recipient, seq),
        UNIQUE (recipient, client_id)
    );
    CREATE INDEX messages_by_age ON messages(received_at);
    CREATE TABLE mailbox_senders (
        recipient TEXT NOT NULL,
        sender    TEXT NOT NULL,
        msg_count BIGINT NOT NULL,
        msg_bytes BIGINT NOT NULL,
        PRIMARY KEY (recipient, sender)
    );
    CREATE FUNCTION kez_count_sender() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO mailbox_senders AS s (recipient, sender, msg_count, msg_bytes)
            VALUES (NEW.recipient, NEW.sender, 1, NEW.size)
            ON CONFLICT (recipient, sender) DO UPDATE
            SET msg_count = s.msg_count + 1, msg_bytes = s.msg_bytes + EXCLUDED.msg_bytes;
        RETURN NULL;
    END $$;
    CREATE TRIGGER messages_count_sender AFTER INSERT ON messages
        FOR EACH ROW EXECUTE FUNCTION kez_count_sender();
    CREATE FUNCTION kez_uncount_sender() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE mailbox_senders SET msg_count = msg_count - 1, msg_bytes = msg_bytes - OLD.size
            WHERE recipient = OLD.recipient AND sender = OLD.sender;
        DELETE FROM mailbox_senders
            WHERE recipient = OLD.recipient AND sender = OLD.sender AND msg_count <= 0;
        RETURN NULL;
    END $$;
    CREATE TRIGGER messages_uncount_sender AFTER DELETE ON messages
        FOR EACH ROW EXECUTE FUNCTION kez_uncount_sender();
    CREATE TABLE vapid_keys (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        private_key TEXT NOT NULL,
        created_at  BIGINT NOT NULL
    );
    CREATE TABLE push_subscriptions (
        handle     TEXT NOT NULL REFERENCES handles(handle) ON DELETE CASCADE,
        endpoint   TEXT NOT NULL,
        p256dh     TEXT NOT NULL,
        auth       TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL,
        PRIMARY KEY (handle, endpoint)
    );
    CREATE TABLE profiles (
        handle     TEXT PRIMARY KEY REFERENCES handles(handle) ON DELETE CASCADE,
        document   TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        etag       TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE sigchain_links (
        primary_key TEXT NOT NULL,
        seq         BIGINT NOT NULL,
        hash        TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        envelope    TEXT NOT NULL,
        PRIMARY KEY (primary_key, seq)
    );
    CREATE TABLE nostr_seen (
        id      BYTEA PRIMARY KEY,
        seen_at BIGINT NOT NULL
    );
    CREATE INDEX nostr_seen_by_time ON nostr_seen(seen_at);",
    // 2: a post in one round trip (SQLite's `insert_message` and `check_sender_share`, the
    //    same checks in the same order): the mailbox row locked first, then the retry check
    //    (its own statement, so its snapshot sees a post that held the lock before), the
    //    quotas, the sender's share under all its tags, the insert and the counters.
    //    Outcome: 'created' | 'exists' (seq and time of the first copy) | 'unknown_recipient'
    //    | 'storage_full' | 'mailbox_full'. Quotas are BIGINTs (callers saturate).
    "CREATE FUNCTION kez_post(
        p_recipient TEXT, p_client_id TEXT, p_envelope TEXT, p_size BIGINT, p_now BIGINT,
        p_sender TEXT, p_older TEXT[], p_max_messages BIGINT, p_max_bytes BIGINT,
        p_share_percent BIGINT, p_accept_new BOOLEAN)
    RETURNS TABLE (outcome TEXT, seq BIGINT, received_at BIGINT)
    LANGUAGE plpgsql AS $$
    DECLARE
        box mailboxes%ROWTYPE;
        held BIGINT;
        held_bytes BIGINT;
    BEGIN
        SELECT * INTO box FROM mailboxes WHERE handle = p_recipient FOR NO KEY UPDATE;
        RETURN QUERY SELECT 'exists', m.seq, m.received_at FROM messages m
            WHERE m.recipient = p_recipient AND m.client_id = p_client_id;
        IF FOUND THEN RETURN; END IF;
        IF box.handle IS NULL THEN
            RETURN QUERY SELECT 'unknown_recipient', 0::BIGINT, 0::BIGINT; RETURN;
        END IF;
        IF NOT p_accept_new THEN
            RETURN QUERY SELECT 'storage_full', 0::BIGINT, 0::BIGINT; RETURN;
        END IF;
        IF box.msg_count >= p_max_messages
            OR box.msg_bytes::NUMERIC + p_size > p_max_bytes THEN
            RETURN QUERY SELECT 'mailbox_full', 0::BIGINT, 0::BIGINT; RETURN;
        END IF;
        IF p_sender <> '' AND p_share_percent < 100 THEN
            SELECT coalesce(sum(s.msg_count), 0), coalesce(sum(s.msg_bytes), 0)
                INTO held, held_bytes FROM mailbox_senders s
                WHERE s.recipient = p_recipient AND s.sender = ANY(p_sender || p_older);
            IF held >= greatest(div(p_max_messages::NUMERIC * p_share_percent, 100), 1)
                OR held_bytes::NUMERIC + p_size > div(p_max_bytes::NUMERIC * p_share_percent, 100) THEN
                RETURN QUERY SELECT 'mailbox_full', 0::BIGINT, 0::BIGINT; RETURN;
            END IF;
        END IF;
        INSERT INTO messages (recipient, seq, client_id, envelope, size, received_at, sender)
            VALUES (p_recipient, box.last_seq + 1, p_client_id, p_envelope, p_size, p_now, p_sender);
        UPDATE mailboxes SET last_seq = box.last_seq + 1, msg_count = msg_count + 1,
            msg_bytes = msg_bytes + p_size WHERE handle = p_recipient;
        RETURN QUERY SELECT 'created', box.last_seq + 1, p_now;
    END $$;",
    // 3: a release chunk and a purge chunk in one round trip each, so no lock is held across a
    //    client's round trips (a paused instance held a mailbox's lock until its transaction
    //    timed out): the mailbox row locked first, as a post does (purges lock theirs in name
    //    order), then the messages deleted (the senders' counts follow by trigger) and the
    //    counters moved. Each returns how many messages went.
    "CREATE FUNCTION kez_release(p_recipient TEXT, p_through BIGINT, p_limit BIGINT)
    RETURNS BIGINT LANGUAGE plpgsql AS $$
    DECLARE
        n BIGINT;
        freed BIGINT;
    BEGIN
        PERFORM 1 FROM mailboxes WHERE handle = p_recipient FOR NO KEY UPDATE;
        WITH gone AS (
            DELETE FROM messages WHERE recipient = p_recipient AND seq IN (
                SELECT m.seq FROM messages m WHERE m.recipient = p_recipient AND m.seq <= p_through
                ORDER BY m.seq LIMIT p_limit)
            RETURNING size)
        SELECT count(*), coalesce(sum(size), 0) INTO n, freed FROM gone;
        UPDATE mailboxes SET msg_count = msg_count - n, msg_bytes = msg_bytes - freed
            WHERE handle = p_recipient;
        RETURN n;
    END $$;
    CREATE FUNCTION kez_purge(p_cutoff BIGINT, p_limit BIGINT)
    RETURNS BIGINT LANGUAGE plpgsql AS $$
    DECLARE
        box TEXT;
        seqs BIGINT[];
        n BIGINT;
        freed BIGINT;
        total BIGINT := 0;
    BEGIN
        FOR box, seqs IN
            SELECT old.recipient, array_agg(old.seq) FROM (
                SELECT m.recipient, m.seq FROM messages m WHERE m.received_at < p_cutoff
                ORDER BY m.received_at LIMIT p_limit) old
            GROUP BY old.recipient ORDER BY old.recipient
        LOOP
            PERFORM 1 FROM mailboxes WHERE handle = box FOR NO KEY UPDATE;
            WITH gone AS (
                DELETE FROM messages WHERE recipient = box AND seq = ANY(seqs) RETURNING size)
            SELECT count(*), coalesce(sum(size), 0) INTO n, freed FROM gone;
            UPDATE mailboxes SET msg_count = msg_count - n, msg_bytes = msg_bytes - freed
                WHERE handle = box;
            total := total + n;
        END LOOP;
        RETURN total;
    END $$;",
];

/// Brings the schema up to [`MIGRATIONS`]' length in one transaction.
/// A database already there is only read (so an instance starts on a
/// read-only standby too, and logs no NOTICE). Instances starting together
/// take turns under a session advisory lock taken before the transaction
/// begins, so the one that waited sees what the first one made. Errors:
/// the database's version is newer than this binary's.
pub(super) async fn migrate(client: &mut Object) -> anyhow::Result<()> {
    if version(&*client).await? == Some(MIGRATIONS.len()) {
        return Ok(());
    }
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let migrated = migrate_locked(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    migrated?;
    unlocked?;
    Ok(())
}

/// One key for every kez-chat-server on a database: 'kez1' as an i64.
const LOCK_KEY: i64 = 1_801_812_273;

async fn migrate_locked(client: &mut Object) -> anyhow::Result<()> {
    let tx = client.transaction().await?;
    let have = match version(&tx).await? {
        Some(have) => have,
        None => {
            tx.batch_execute(
                "CREATE TABLE kez_schema (version INTEGER NOT NULL);
                 INSERT INTO kez_schema (version) VALUES (0);",
            )
            .await?;
            0
        }
    };
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(have) {
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("PostgreSQL migration {} failed", i + 1))?;
    }
    let now = i32::try_from(MIGRATIONS.len()).context("too many migrations")?;
    tx.execute("UPDATE kez_schema SET version = $1", &[&now])
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The schema's version (`None`: no kez_schema table yet). Errors: a
/// version newer than this binary knows.
async fn version(client: &impl GenericClient) -> anyhow::Result<Option<usize>> {
    let exists: bool = client
        .query_one("SELECT to_regclass('kez_schema') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let version: Option<i32> = client
        .query_one("SELECT max(version) FROM kez_schema", &[])
        .await?
        .get(0);
    let have = usize::try_from(version.unwrap_or(0)).context("negative schema version")?;
    anyhow::ensure!(
        have <= MIGRATIONS.len(),
        "the database's schema (version {have}) is newer than this server's ({}): \
         run a newer kez-chat-server",
        MIGRATIONS.len()
    );
    Ok(Some(have))
}
