//! The sigchain links table (SPEC §15): each key's append-only chain, one
//! row per link, the envelope kept as its JCS (the bytes its hash names).

use rusqlite::{Connection, OptionalExtension, params};

use super::Result;
use super::Store;
use crate::kez::Identity;

/// One stored link.
#[derive(Debug, Clone)]
pub struct StoredLink {
    /// Its hash, lowercase hex (SPEC §15).
    pub hash: String,
    /// The envelope's JCS (SPEC §2), at most 4096 bytes (§15.1).
    pub envelope: String,
}

/// Where a chain stands, read before the costly checks of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Links stored.
    pub len: u64,
    /// The last link's hash; `None` for an empty chain.
    pub hash: Option<String>,
    /// The hash of the link stored at the seq asked about, if any.
    pub hash_at_seq: Option<String>,
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
    /// The envelope's JCS.
    pub envelope: String,
}

impl NewLink {
    /// Whether the link goes right after `head` (the chain's last seq and
    /// hash; `None`: empty), as it was checked: both backends ask this of
    /// the head they read.
    pub(super) fn extends(&self, head: Option<(i64, &str)>) -> bool {
        let seq = i64::try_from(self.seq).unwrap_or(i64::MAX);
        match (head, &self.prev) {
            (None, None) => seq == 1,
            (Some((last, hash)), Some(prev)) => last == seq - 1 && hash == prev,
            _ => false,
        }
    }
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
        if let Some(pg) = self.pg() {
            return pg.sigchain(&primary).await;
        }
        self.read(move |conn| read_chain(conn, &primary)).await
    }

    /// `primary`'s chain length, head hash and the hash stored at `seq`,
    /// or `None` when no handle here is registered to that key.
    pub async fn sigchain_head(&self, primary: Identity, seq: u64) -> Result<Option<ChainHead>> {
        if let Some(pg) = self.pg() {
            return pg.sigchain_head(&primary, seq).await;
        }
        self.read(move |conn| read_head(conn, &primary, seq)).await
    }

    /// Appends `link` if the chain's head is still the link it was checked
    /// against (`seq - 1` with hash `prev`). The check and the insert are
    /// one job of the single writer, so of two racing appends of one seq
    /// exactly one is stored.
    pub async fn append_sigchain_link(&self, link: NewLink) -> Result<AppendLink> {
        if let Some(pg) = self.pg() {
            return pg.append_sigchain_link(&link).await;
        }
        self.write(move |conn| append(conn, &link), |_| {}).await
    }
}

fn registered(conn: &Connection, primary: &Identity) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM handles WHERE primary_key = ?1")?
        .query_row(params![primary.to_string()], |_| Ok(()))
        .optional()?
        .is_some())
}

fn read_head(conn: &Connection, primary: &Identity, seq: u64) -> Result<Option<ChainHead>> {
    if !registered(conn, primary)? {
        return Ok(None);
    }
    let key = primary.to_string();
    let head: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, hash FROM sigchain_links WHERE primary_key = ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let hash_at_seq: Option<String> = conn
        .prepare_cached("SELECT hash FROM sigchain_links WHERE primary_key = ?1 AND seq = ?2")?
        .query_row(params![key, i64::try_from(seq).unwrap_or(i64::MAX)], |r| {
            r.get(0)
        })
        .optional()?;
    let (len, hash) = head.map_or((0, None), |(n, h)| (n.unsigned_abs(), Some(h)));
    Ok(Some(ChainHead {
        len,
        hash,
        hash_at_seq,
    }))
}

fn read_chain(conn: &Connection, primary: &Identity) -> Result<Option<Vec<StoredLink>>> {
    if !registered(conn, primary)? {
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
    if !link.extends(head.as_ref().map(|(n, h)| (*n, h.as_str()))) {
        return Ok(AppendLink::Conflict);
    }
    // The head check above makes a taken seq impossible; should it ever
    // slip, a conflict is still a 409, never a constraint error (a 500).
    let inserted = conn
        .prepare_cached(
            "INSERT INTO sigchain_links (primary_key, seq, hash, created_at, envelope)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            link.primary.to_string(),
            seq,
            link.hash,
            link.created_at,
            link.envelope
        ])?;
    Ok(if inserted == 1 {
        AppendLink::Stored
    } else {
        AppendLink::Conflict
    })
}
