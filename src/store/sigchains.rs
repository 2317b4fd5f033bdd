//! The sigchain links table (SPEC §15): each key's append-only chain, one
//! row per link, the envelope kept as the client posted it.

use rusqlite::{Connection, OptionalExtension, params};

use super::Result;
use super::Store;
use crate::kez::Identity;

/// One stored link.
#[derive(Debug, Clone)]
pub struct StoredLink {
    /// Its hash, lowercase hex (SPEC §15).
    pub hash: String,
    /// The envelope as posted, byte for byte.
    pub envelope: String,
}

/// A link to append, already checked against the chain it extends.
#[derive(Debug)]
pub struct NewLink {
    /// The chain's key.
    pub primary: Identity,
    /// Its position, 1-based.
    pub seq: u64,
    /// The hash of link `seq - 1` it was checked against; `None` for seq 1.
    pub prev: Option<String>,
    /// Its hash.
    pub hash: String,
    /// Unix seconds of `payload.created_at`.
    pub created_at: i64,
    /// The envelope as posted.
    pub envelope: String,
}

/// What appending came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendLink {
    /// Stored at its seq.
    Stored,
    /// The chain's head moved since the link was checked (a racing append
    /// won that seq): nothing stored.
    Conflict,
}

impl Store {
    /// `primary`'s links in seq order, or `None` when no handle here is
    /// registered to that key.
    pub async fn sigchain(&self, primary: Identity) -> Result<Option<Vec<StoredLink>>> {
        self.read(move |conn| read_chain(conn, &primary)).await
    }

    /// Appends `link` if the chain's head is still the link it was checked
    /// against (`seq - 1` with hash `prev`). The check and the insert are
    /// one job of the single writer, so of two racing appends of one seq
    /// exactly one is stored.
    pub async fn append_sigchain_link(&self, link: NewLink) -> Result<AppendLink> {
        self.write(move |conn| append(conn, &link), |_| {}).await
    }
}

fn read_chain(conn: &Connection, primary: &Identity) -> Result<Option<Vec<StoredLink>>> {
    let registered = conn
        .prepare_cached("SELECT 1 FROM handles WHERE primary_key = ?1")?
        .query_row(params![primary.to_string()], |_| Ok(()))
        .optional()?
        .is_some();
    if !registered {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT hash, envelope FROM sigchain_links WHERE primary_key = ?1 ORDER BY seq",
    )?;
    let links = stmt
        .query_map(params![primary.to_string()], |r| {
            Ok(StoredLink {
                hash: r.get(0)?,
                envelope: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(links))
}

fn append(conn: &Connection, link: &NewLink) -> Result<AppendLink> {
    let head: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, hash FROM sigchain_links WHERE primary_key = ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row(params![link.primary.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let seq = i64::try_from(link.seq).unwrap_or(i64::MAX);
    let extends = match (&head, &link.prev) {
        (None, None) => seq == 1,
        (Some((last, hash)), Some(prev)) => *last == seq - 1 && hash == prev,
        _ => false,
    };
    if !extends {
        return Ok(AppendLink::Conflict);
    }
    conn.prepare_cached(
        "INSERT INTO sigchain_links (primary_key, seq, hash, created_at, envelope)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        link.primary.to_string(),
        seq,
        link.hash,
        link.created_at,
        link.envelope
    ])?;
    Ok(AppendLink::Stored)
}
