//! Sigchains (SPEC §15): a key's append-only list of signed links that add
//! and revoke claims (a GitHub login, a web host, a DNS name), and the proof
//! statements a user publishes at each claimed place.
//!
//! One implementation of every rule: the home server checks a posted link
//! with [`verify_link`] then [`Chain::check_next`]; readers check a fetched
//! chain with [`Chain::verify`]. The web client's `lib/sigchain.ts` follows
//! the same order, pinned by `tests/vectors/sigchain.json`.

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::identity::{Identity, IdentityError};
use super::json::{self, JsonError};
use super::signed::{ALG, MAX_SKEW_SECS, PayloadHead, SignedEnvelope};
use super::time::strict_utc_seconds;

mod chain;
mod claim;
mod proof;
#[cfg(test)]
mod tests;

pub use chain::{Chain, ChainError};
pub use claim::{Claim, Service, valid_github_login, valid_host};
pub use proof::{ProofStatement, proof_payload, sign_proof, verify_proof};

/// Envelope tag of a link.
pub const LINK_TAG: &str = "sigchain_link";
/// Payload type of a link.
pub const LINK_TYPE: &str = "kez.sigchain.link";
/// Envelope tag of a proof statement.
pub const PROOF_TAG: &str = "sigchain_proof";
/// Payload type of a proof statement.
pub const PROOF_TYPE: &str = "kez.sigchain.proof";
/// Most links in one chain.
pub const MAX_LINKS: usize = 256;
/// Largest link: the length of its envelope's JCS, in bytes.
pub const MAX_LINK_BYTES: usize = 4096;
/// Most claims added and not revoked at any point of a chain.
pub const MAX_ACTIVE_CLAIMS: usize = 32;

/// Every way a link, a chain or a proof statement is refused, one per
/// SPEC §15 code ([`LinkError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// `unsafe_number`
    #[error("numbers in signed payloads must be integers between -(2^53-1) and 2^53-1")]
    UnsafeNumber,
    /// `link_too_large`
    #[error("a link is at most 4096 bytes of JCS")]
    LinkTooLarge,
    /// `invalid_body`
    #[error("the document does not have the expected fields: {0}")]
    InvalidBody(String),
    /// `wrong_envelope_tag`
    #[error("the envelope tag is not the one of this document")]
    WrongEnvelopeTag,
    /// `wrong_payload_type`
    #[error("the payload type is not the one of this document")]
    WrongPayloadType,
    /// `unsupported_version`
    #[error("only version 1 is supported")]
    UnsupportedVersion,
    /// `key_mismatch`
    #[error("signature.key must equal payload.primary")]
    KeyMismatch,
    /// `unsupported_alg`
    #[error("the signature algorithm must be \"ed25519-sha512-jcs\"")]
    UnsupportedAlg,
    /// `invalid_key`
    #[error("{0}")]
    InvalidKey(IdentityError),
    /// `invalid_signature`
    #[error("the signature does not verify against the primary key")]
    InvalidSignature,
    /// `invalid_seq`
    #[error("seq must be an integer from 1")]
    InvalidSeq,
    /// `invalid_prev`
    #[error("prev must be null for seq 1, else 64 lowercase hex")]
    InvalidPrev,
    /// `invalid_timestamp`
    #[error("created_at must be YYYY-MM-DDTHH:MM:SSZ")]
    InvalidTimestamp,
    /// `stale_timestamp`
    #[error("created_at must be within 5 minutes of the server's clock")]
    StaleTimestamp,
    /// `unknown_service`
    #[error("the service must be \"github\", \"https\" or \"dns\"")]
    UnknownService,
    /// `invalid_claim_name`
    #[error("the name is not valid on that service")]
    InvalidClaimName,
    /// `invalid_proof`
    #[error("the proof location does not match the service's pattern for that name")]
    InvalidProof,
    /// `invalid_link_ref`
    #[error("a revoke names a link by its hash: 64 lowercase hex")]
    InvalidLinkRef,
    /// `primary_mismatch`
    #[error("the link is signed by another key than the chain's")]
    PrimaryMismatch,
    /// `seq_mismatch`
    #[error("seq must be the chain's length plus one")]
    SeqMismatch,
    /// `prev_mismatch`
    #[error("prev must be the hash of the chain's last link")]
    PrevMismatch,
    /// `chain_full`
    #[error("a chain holds at most 256 links")]
    ChainFull,
    /// `created_at_regression`
    #[error("created_at must not be before the previous link's")]
    CreatedAtRegression,
    /// `revoke_unknown`
    #[error("a revoke must name an add link of this chain")]
    RevokeUnknown,
    /// `already_revoked`
    #[error("that claim is already revoked")]
    AlreadyRevoked,
    /// `duplicate_claim`
    #[error("that service and name are already claimed and not revoked")]
    DuplicateClaim,
    /// `too_many_claims`
    #[error("at most 32 claims may be active at once")]
    TooManyClaims,
}

impl LinkError {
    /// The stable machine-readable code of SPEC §15.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsafeNumber => "unsafe_number",
            Self::LinkTooLarge => "link_too_large",
            Self::InvalidBody(_) => "invalid_body",
            Self::WrongEnvelopeTag => "wrong_envelope_tag",
            Self::WrongPayloadType => "wrong_payload_type",
            Self::UnsupportedVersion => "unsupported_version",
            Self::KeyMismatch => "key_mismatch",
            Self::UnsupportedAlg => "unsupported_alg",
            Self::InvalidKey(_) => "invalid_key",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidSeq => "invalid_seq",
            Self::InvalidPrev => "invalid_prev",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::StaleTimestamp => "stale_timestamp",
            Self::UnknownService => "unknown_service",
            Self::InvalidClaimName => "invalid_claim_name",
            Self::InvalidProof => "invalid_proof",
            Self::InvalidLinkRef => "invalid_link_ref",
            Self::PrimaryMismatch => "primary_mismatch",
            Self::SeqMismatch => "seq_mismatch",
            Self::PrevMismatch => "prev_mismatch",
            Self::ChainFull => "chain_full",
            Self::CreatedAtRegression => "created_at_regression",
            Self::RevokeUnknown => "revoke_unknown",
            Self::AlreadyRevoked => "already_revoked",
            Self::DuplicateClaim => "duplicate_claim",
            Self::TooManyClaims => "too_many_claims",
        }
    }
}

crate::signed::from_envelope_fault!(LinkError);

impl From<JsonError> for LinkError {
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::UnsafeNumber => Self::UnsafeNumber,
            JsonError::Invalid(m) => Self::InvalidBody(m),
        }
    }
}

/// What a link does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `{"op":"add","claim":{…}}`.
    Add(Claim),
    /// `{"op":"revoke","link":"<hash of an add link>"}`.
    Revoke(String),
}

impl Body {
    /// The wire form of the body.
    #[must_use]
    pub fn to_value(&self) -> Value {
        match self {
            Self::Add(c) => json!({"op": "add", "claim": {
                "service": c.service.as_str(), "name": c.name, "proof": c.proof}}),
            Self::Revoke(hash) => json!({"op": "revoke", "link": hash}),
        }
    }
}

/// A link that passed [`verify_link`].
#[derive(Debug, Clone)]
pub struct Link {
    /// The key that signed it: the chain's owner.
    pub primary: Identity,
    /// Its 1-based position.
    pub seq: u64,
    /// The previous link's hash; `None` for seq 1.
    pub prev: Option<String>,
    /// When the client made it.
    pub created_at: DateTime<Utc>,
    /// What it does.
    pub body: Body,
    /// Its hash ([`link_hash`]).
    pub hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    #[serde(rename = "type")]
    kind: String,
    version: u64,
    primary: String,
    seq: u64,
    prev: Option<String>,
    created_at: String,
    #[serde(deserialize_with = "json::object")]
    body: RawBody,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum RawBody {
    Add {
        #[serde(deserialize_with = "json::object")]
        claim: RawClaim,
    },
    Revoke {
        link: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaim {
    service: String,
    name: String,
    proof: String,
}

/// The hash that names a link: lowercase hex SHA-256 of the JCS of the
/// whole envelope, signature included.
#[must_use]
pub fn link_hash(envelope: &Value) -> String {
    hex::encode(Sha256::digest(json::canonical_bytes(envelope)))
}

/// Whether `s` is 64 lowercase hex characters (a link hash).
#[must_use]
pub fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks one link on its own, in SPEC §15 order: safe numbers, size,
/// shape, envelope and signature, seq, prev, created_at (and, when `now` is
/// given, the ±5 min window), then the body. The chain rules are
/// [`Chain::check_next`]'s.
pub fn verify_link(envelope: &Value, now: Option<DateTime<Utc>>) -> Result<Link, LinkError> {
    read_link(envelope, true, now)
}

/// [`verify_link`] without the signature and the clock window, for links
/// this side verified before storing them (the server rebuilding a chain).
pub fn read_stored_link(envelope: &Value) -> Result<Link, LinkError> {
    read_link(envelope, false, None)
}

fn read_link(
    envelope: &Value,
    signed: bool,
    now: Option<DateTime<Utc>>,
) -> Result<Link, LinkError> {
    json::ensure_safe_numbers(envelope)?;
    if json::canonical_bytes(envelope).len() > MAX_LINK_BYTES {
        return Err(LinkError::LinkTooLarge);
    }
    let env: SignedEnvelope = json::from_object(envelope).map_err(LinkError::InvalidBody)?;
    // serde lets an `Option` field be absent; the SPEC wants `prev` present, even as null.
    if env.payload.get("prev").is_none() {
        return Err(LinkError::InvalidBody(
            "the field `payload.prev` is missing".into(),
        ));
    }
    let p: RawLink =
        json::from_object_at(&env.payload, "payload").map_err(LinkError::InvalidBody)?;
    let head = PayloadHead {
        kind: &p.kind,
        version: p.version,
        primary: &p.primary,
    };
    let primary = if signed {
        env.check(LINK_TAG, LINK_TYPE, &head)?
    } else {
        env.check_unsigned(LINK_TAG, LINK_TYPE, &head)?
    };
    if p.seq == 0 {
        return Err(LinkError::InvalidSeq);
    }
    match (&p.prev, p.seq) {
        (None, 1) => {}
        (Some(h), s) if s > 1 && is_hash(h) => {}
        _ => return Err(LinkError::InvalidPrev),
    }
    let created_at = strict_utc_seconds(&p.created_at).ok_or(LinkError::InvalidTimestamp)?;
    if now.is_some_and(|now| (now - created_at).num_seconds().abs() > MAX_SKEW_SECS) {
        return Err(LinkError::StaleTimestamp);
    }
    let body = match p.body {
        RawBody::Add { claim: c } => Body::Add(Claim::parse(&c.service, &c.name, &c.proof)?),
        RawBody::Revoke { link } if is_hash(&link) => Body::Revoke(link),
        RawBody::Revoke { .. } => return Err(LinkError::InvalidLinkRef),
    };
    Ok(Link {
        primary,
        seq: p.seq,
        prev: p.prev,
        created_at,
        body,
        hash: link_hash(envelope),
    })
}

/// The payload of a link (SPEC §15), ready to sign with [`sign_link`].
#[must_use]
pub fn link_payload(
    primary: &Identity,
    seq: u64,
    prev: Option<&str>,
    created_at: &str,
    body: &Body,
) -> Value {
    json!({"type": LINK_TYPE, "version": 1, "primary": primary.to_string(), "seq": seq,
           "prev": prev, "created_at": created_at, "body": body.to_value()})
}

/// Signs `payload` (a link's) into its envelope.
#[must_use]
pub fn sign_link(signer: &SigningKey, payload: &Value) -> Value {
    sign_envelope(signer, LINK_TAG, payload)
}

fn sign_envelope(signer: &SigningKey, tag: &str, payload: &Value) -> Value {
    let sig = signer.sign(&json::canonical_bytes(payload));
    let key = format!("ed25519:{}", hex::encode(signer.verifying_key().as_bytes()));
    json!({"kez": tag, "payload": payload,
           "signature": {"alg": ALG, "key": key, "sig": hex::encode(sig.to_bytes())}})
}
