//! `--copy-to-postgres`: moving a deployment from SQLite (one machine) to
//! PostgreSQL (several, SPEC §11.2) without losing anyone: every row of
//! every table, read from one SQLite snapshot and written in one
//! PostgreSQL transaction, into a database with no handles yet. As with
//! `--backup-to`, every mailbox's next seq is raised by
//! [`BACKUP_SEQ_GAP`], so a seq a client saw after the snapshot is never
//! given to another message.

use std::path::Path;

use anyhow::Context;
use rusqlite::Connection;
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;

use super::Pg;
use crate::config::PgOptions;
use crate::store::{BACKUP_SEQ_GAP, WriterStats, in_snapshot, open_reader};

/// Rows in flight between the SQLite reader thread and the writer.
const IN_FLIGHT: usize = 1024;

/// Inserts sent to PostgreSQL before their answers are awaited.
const PIPELINED: usize = 256;

/// One table's SQLite read and PostgreSQL insert, column for column.
struct Table {
    name: &'static str,
    select: &'static str,
    insert: &'static str,
    /// The column raised by [`BACKUP_SEQ_GAP`] (a mailbox's `last_seq`).
    raise: Option<usize>,
}

/// In an order that satisfies the foreign keys (handles first, in their
/// registration order). `messages` fill `mailbox_senders` by trigger.
const TABLES: &[Table] = &[
    Table {
        name: "handles",
        select: "SELECT handle, primary_key, registered_at, envelope FROM handles ORDER BY rowid",
        insert: "INSERT INTO handles (handle, primary_key, registered_at, envelope)
                 VALUES ($1, $2, $3, $4)",
        raise: None,
    },
    Table {
        name: "mailboxes",
        select: "SELECT handle, last_seq, msg_count, msg_bytes FROM mailboxes",
        insert: "INSERT INTO mailboxes (handle, last_seq, msg_count, msg_bytes)
                 VALUES ($1, $2, $3, $4)",
        raise: Some(1),
    },
    Table {
        name: "messages",
        select: "SELECT recipient, seq, client_id, size, received_at, sender, envelope
                 FROM messages ORDER BY recipient, seq",
        insert:
            "INSERT INTO messages (recipient, seq, client_id, size, received_at, sender, envelope)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
        raise: None,
    },
    Table {
        name: "vapid_keys",
        select: "SELECT id, private_key, created_at FROM vapid_keys",
        insert: "INSERT INTO vapid_keys (id, private_key, created_at) VALUES ($1::BIGINT, $2, $3)",
        raise: None,
    },
    Table {
        name: "push_subscriptions",
        select: "SELECT handle, endpoint, p256dh, auth, created_at, updated_ms FROM push_subscriptions",
        insert:
            "INSERT INTO push_subscriptions (handle, endpoint, p256dh, auth, created_at, updated_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)",
        raise: None,
    },
    Table {
        name: "profiles",
        select: "SELECT handle, document, updated_at, etag FROM profiles",
        insert: "INSERT INTO profiles (handle, document, updated_at, etag) VALUES ($1, $2, $3, $4)",
        raise: None,
    },
    Table {
        name: "sigchain_links",
        select: "SELECT primary_key, seq, hash, created_at, envelope FROM sigchain_links",
        insert: "INSERT INTO sigchain_links (primary_key, seq, hash, created_at, envelope)
                 VALUES ($1, $2, $3, $4, $5)",
        raise: None,
    },
    Table {
        name: "nostr_seen",
        select: "SELECT id, seen_at FROM nostr_seen",
        insert: "INSERT INTO nostr_seen (id, seen_at) VALUES ($1, $2)",
        raise: None,
    },
];

/// A column value as SQLite holds it in this schema.
#[derive(Debug)]
enum Value {
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Int(v) => v,
            Self::Text(v) => v,
            Self::Blob(v) => v,
        }
    }
}

/// What the reader thread sends: a row of table `TABLES[i]`.
type Row = (usize, Vec<Value>);

/// Copies the SQLite database at `db` into the PostgreSQL database of
/// `options` (migrated first), which must hold no handle. Returns the rows
/// copied per table. Errors: either database cannot be opened, the target
/// already holds data, or a row is refused (nothing is kept then: one
/// transaction).
pub async fn copy_to_postgres(
    db: &Path,
    options: &PgOptions,
) -> anyhow::Result<Vec<(&'static str, u64)>> {
    anyhow::ensure!(db.is_file(), "no SQLite database at {}", db.display());
    let _alone = crate::store::running::hold_alone(db)?;
    // Brought to this binary's schema first (an older file gains what it
    // lacks), so every table and column read below is there.
    let path = db.to_owned();
    tokio::task::spawn_blocking(move || crate::store::migrate_file(&path)).await??;
    let pg = Pg::connect(options, std::sync::Arc::new(WriterStats::default())).await?;
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let held: i64 = tx
        .query_one("SELECT count(*) FROM handles", &[])
        .await?
        .get(0);
    anyhow::ensure!(
        held == 0,
        "the PostgreSQL database already holds {held} handles: copy into an empty one"
    );
    // The VAPID key a fresh instance may have made: the copied one wins.
    tx.execute("DELETE FROM vapid_keys", &[]).await?;
    // The senders' counts are summed once at the end: counted row by row,
    // one sender's thousands of updates of one row slowed the copy down
    // more than linearly.
    tx.batch_execute("ALTER TABLE messages DISABLE TRIGGER messages_count_sender")
        .await?;
    let (rows_tx, mut rows) = mpsc::channel::<Row>(IN_FLIGHT);
    let path = db.to_owned();
    let reader = std::thread::spawn(move || read_all(&path, &rows_tx));
    let mut statements = Vec::with_capacity(TABLES.len());
    for t in TABLES {
        statements.push(tx.prepare(t.insert).await?);
    }
    let mut counts = vec![0u64; TABLES.len()];
    let gap = i64::try_from(BACKUP_SEQ_GAP)?;
    let mut batch: Vec<Row> = Vec::with_capacity(PIPELINED);
    while rows.recv_many(&mut batch, PIPELINED).await > 0 {
        for (table, values) in &mut batch {
            if let Some(Value::Int(seq)) = TABLES[*table].raise.and_then(|c| values.get_mut(c)) {
                *seq = seq
                    .checked_add(gap)
                    .context("a mailbox's seq is too large to raise")?;
            }
        }
        // Sent together, run in order: one connection pipelines them.
        let inserts = batch.iter().map(|(table, values)| {
            let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(Value::param).collect();
            let (table, statement) = (*table, &statements[*table]);
            let tx = &tx;
            async move {
                tx.execute(statement, &params)
                    .await
                    .with_context(|| format!("copying a row of {}", TABLES[table].name))
            }
        });
        futures_util::future::try_join_all(inserts).await?;
        for (table, _) in batch.drain(..) {
            counts[table] += 1;
        }
    }
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the SQLite reader panicked"))??;
    tx.batch_execute(
        "INSERT INTO mailbox_senders (recipient, sender, msg_count, msg_bytes)
             SELECT recipient, sender, count(*), sum(size) FROM messages GROUP BY recipient, sender;
         ALTER TABLE messages ENABLE TRIGGER messages_count_sender;",
    )
    .await?;
    tx.commit().await?;
    pg.close();
    Ok(TABLES.iter().map(|t| t.name).zip(counts).collect())
}

/// Reads every table in one snapshot, sending each row; stops early (Ok)
/// when the writer is gone, which then reports its own error.
fn read_all(db: &Path, out: &mpsc::Sender<Row>) -> anyhow::Result<()> {
    let conn: Connection =
        open_reader(db).with_context(|| format!("cannot open SQLite database {}", db.display()))?;
    in_snapshot(&conn, |conn| {
        for (i, t) in TABLES.iter().enumerate() {
            let mut stmt = conn.prepare(t.select)?;
            let columns = stmt.column_count();
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let mut values = Vec::with_capacity(columns);
                for c in 0..columns {
                    values.push(match row.get_ref(c)? {
                        rusqlite::types::ValueRef::Integer(v) => Value::Int(v),
                        rusqlite::types::ValueRef::Text(v) => {
                            Value::Text(String::from_utf8_lossy(v).into_owned())
                        }
                        rusqlite::types::ValueRef::Blob(v) => Value::Blob(v.to_vec()),
                        other => {
                            return Err(crate::store::StoreError::Corrupt(format!(
                                "{}: unexpected {:?} value",
                                t.name,
                                other.data_type()
                            )));
                        }
                    });
                }
                if out.blocking_send((i, values)).is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    })
    .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table of the SQLite schema is copied with all its columns, or
    /// named here as not copied: a migration adding a table or a column
    /// fails this until the copy carries it too.
    #[test]
    fn the_copy_reads_every_sqlite_table_and_column() {
        // Recomputed by the copy, or nothing of the deployment's.
        const NOT_COPIED: [&str; 2] = ["mailbox_senders", "meta"];
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("all.db");
        crate::store::migrate_file(&db).unwrap();
        let conn = Connection::open(&db).unwrap();
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for table in tables {
            if NOT_COPIED.contains(&table.as_str()) {
                continue;
            }
            let copied = TABLES.iter().find(|t| t.name == table);
            let copied = copied.unwrap_or_else(|| panic!("{table} is not copied"));
            let mut all: Vec<String> = conn
                .prepare(&format!("SELECT * FROM {table}"))
                .unwrap()
                .column_names()
                .into_iter()
                .map(str::to_owned)
                .collect();
            let mut read: Vec<String> = conn
                .prepare(copied.select)
                .unwrap()
                .column_names()
                .into_iter()
                .map(str::to_owned)
                .collect();
            all.sort();
            read.sort();
            assert_eq!(read, all, "{table}");
        }
    }
}
