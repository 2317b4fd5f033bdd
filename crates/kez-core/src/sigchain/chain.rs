//! The chain rules (SPEC §15): how a link may extend a chain.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Body, Claim, Link, LinkError, MAX_ACTIVE_CLAIMS, MAX_LINKS, verify_link};
use crate::identity::Identity;

/// A chain's state: enough of each accepted link to check the next one.
#[derive(Debug, Clone)]
pub struct Chain {
    primary: Identity,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    hash: String,
    created_at: DateTime<Utc>,
    /// The claim of an add link; `None` for a revoke.
    claim: Option<Claim>,
    revoked: bool,
}

/// Where [`Chain::verify`] stopped: the 0-based index of the first bad
/// link and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("link {index}: {error}")]
pub struct ChainError {
    /// Position in the list (seq − 1 for a well-numbered chain).
    pub index: usize,
    /// The refusal.
    pub error: LinkError,
}

impl Chain {
    /// The empty chain of `primary`.
    #[must_use]
    pub fn new(primary: Identity) -> Self {
        Self {
            primary,
            entries: Vec::new(),
        }
    }

    /// Links accepted so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No link yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The last link's hash.
    #[must_use]
    pub fn head(&self) -> Option<&str> {
        self.entries.last().map(|e| e.hash.as_str())
    }

    /// The claims added and not revoked, in the order they were added,
    /// each with the hash of its add link.
    pub fn active_claims(&self) -> impl Iterator<Item = (&str, &Claim)> {
        self.entries
            .iter()
            .filter(|e| !e.revoked)
            .filter_map(|e| e.claim.as_ref().map(|c| (e.hash.as_str(), c)))
    }

    /// Whether `link` may come next, in SPEC §15 order: `primary_mismatch`,
    /// `seq_mismatch`, `prev_mismatch`, `chain_full`,
    /// `created_at_regression`, then for an add `duplicate_claim` (names
    /// compared ASCII case-insensitively) and
    /// `too_many_claims`, for a revoke `revoke_unknown` and `already_revoked`.
    pub fn check_next(&self, link: &Link) -> Result<(), LinkError> {
        if link.primary != self.primary {
            return Err(LinkError::PrimaryMismatch);
        }
        if usize::try_from(link.seq).ok() != Some(self.len() + 1) {
            return Err(LinkError::SeqMismatch);
        }
        if link.prev.as_deref() != self.head() {
            return Err(LinkError::PrevMismatch);
        }
        if self.len() >= MAX_LINKS {
            return Err(LinkError::ChainFull);
        }
        if self
            .entries
            .last()
            .is_some_and(|last| link.created_at < last.created_at)
        {
            return Err(LinkError::CreatedAtRegression);
        }
        match &link.body {
            Body::Add(claim) => {
                let mut active = self.active_claims();
                // GitHub logins are case-insensitive (hosts are lower-case already).
                let same = |c: &Claim| {
                    c.service == claim.service && c.name.eq_ignore_ascii_case(&claim.name)
                };
                if active.any(|(_, c)| same(c)) {
                    return Err(LinkError::DuplicateClaim);
                }
                if self.active_claims().count() >= MAX_ACTIVE_CLAIMS {
                    return Err(LinkError::TooManyClaims);
                }
            }
            Body::Revoke(target) => {
                let add = self
                    .entries
                    .iter()
                    .find(|e| e.claim.is_some() && &e.hash == target)
                    .ok_or(LinkError::RevokeUnknown)?;
                if add.revoked {
                    return Err(LinkError::AlreadyRevoked);
                }
            }
        }
        Ok(())
    }

    /// [`Self::check_next`], then appends the link.
    pub fn push(&mut self, link: Link) -> Result<(), LinkError> {
        self.check_next(&link)?;
        if let Body::Revoke(target) = &link.body
            && let Some(add) = self.entries.iter_mut().find(|e| &e.hash == target)
        {
            add.revoked = true;
        }
        let claim = match link.body {
            Body::Add(c) => Some(c),
            Body::Revoke(_) => None,
        };
        self.entries.push(Entry {
            hash: link.hash,
            created_at: link.created_at,
            claim,
            revoked: false,
        });
        Ok(())
    }

    /// Checks a whole fetched chain of `primary`, link by link
    /// ([`verify_link`] without a clock window, then [`Self::push`]).
    /// More than [`MAX_LINKS`] links fail at the first extra one.
    /// `primary` is the *trusted* key (the handle lookup's or the
    /// contact's), never the fetched body's own `primary` (SPEC §15.2).
    pub fn verify(primary: &Identity, links: &[Value]) -> Result<Self, ChainError> {
        let mut chain = Self::new(primary.clone());
        for (index, envelope) in links.iter().enumerate() {
            verify_link(envelope, None)
                .and_then(|link| chain.push(link))
                .map_err(|error| ChainError { index, error })?;
        }
        Ok(chain)
    }
}
