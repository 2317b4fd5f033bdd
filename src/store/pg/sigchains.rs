//! Sigchains on PostgreSQL (as `store::sigchains`). Two racing appends of
//! one seq, on any instances, store one: the head is checked, then the
//! insert leans on the `(primary_key, seq)` key, which waits for the other
//! transaction and then does nothing.

use super::{Pg, big, count, refuse_full};
use crate::kez::Identity;
use crate::store::{AppendLink, ChainHead, NewLink, Result, StoredLink};

const HEAD: &str =
    "SELECT seq, hash FROM sigchain_links WHERE primary_key = $1 ORDER BY seq DESC LIMIT 1";

impl Pg {
    /// See `Store::sigchain`.
    pub(in crate::store) async fn sigchain(
        &self,
        primary: &Identity,
    ) -> Result<Option<Vec<StoredLink>>> {
        let mut client = self.reader().await?;
        let tx = client.transaction().await?;
        let key = primary.to_string();
        if !registered(&tx, &key).await? {
            return Ok(None);
        }
        let rows = tx
            .query(
                "SELECT hash, envelope FROM sigchain_links WHERE primary_key = $1 ORDER BY seq",
                &[&key],
            )
            .await?;
        Ok(Some(
            rows.iter()
                .map(|r| StoredLink {
                    hash: r.get(0),
                    envelope: r.get(1),
                })
                .collect(),
        ))
    }

    /// See `Store::sigchain_head`.
    pub(in crate::store) async fn sigchain_head(
        &self,
        primary: &Identity,
        seq: u64,
    ) -> Result<Option<ChainHead>> {
        let mut client = self.reader().await?;
        let tx = client.transaction().await?;
        let key = primary.to_string();
        if !registered(&tx, &key).await? {
            return Ok(None);
        }
        let head = tx.query_opt(HEAD, &[&key]).await?;
        let at_seq = tx
            .query_opt(
                "SELECT hash FROM sigchain_links WHERE primary_key = $1 AND seq = $2",
                &[&key, &big(seq)],
            )
            .await?;
        let (len, hash) = match head {
            Some(r) => (count(r.get(0))?, Some(r.get(1))),
            None => (0, None),
        };
        Ok(Some(ChainHead {
            len,
            hash,
            hash_at_seq: at_seq.map(|r| r.get(0)),
        }))
    }

    /// See `Store::append_sigchain_link`.
    pub(in crate::store) async fn append_sigchain_link(
        &self,
        link: &NewLink,
    ) -> Result<AppendLink> {
        let client = self.client().await?;
        let key = link.primary.to_string();
        let head = client.query_opt(HEAD, &[&key]).await?;
        let seq = big(link.seq);
        if !link.extends(head.as_ref().map(|r| (r.get(0), r.get(1)))) {
            return Ok(AppendLink::Conflict);
        }
        let inserted = client
            .execute(
                "INSERT INTO sigchain_links (primary_key, seq, hash, created_at, envelope)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&key, &seq, &link.hash, &link.created_at, &link.envelope],
            )
            .await
            .map_err(refuse_full)?;
        self.wrote();
        Ok(if inserted == 1 {
            AppendLink::Stored
        } else {
            AppendLink::Conflict
        })
    }
}

/// Whether a handle here is registered to `key` (no chain is served for
/// others, as on SQLite).
async fn registered(tx: &deadpool_postgres::Transaction<'_>, key: &str) -> Result<bool> {
    Ok(tx
        .query_opt("SELECT 1 FROM handles WHERE primary_key = $1", &[&key])
        .await?
        .is_some())
}
