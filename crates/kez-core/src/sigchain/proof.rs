//! Proof statements (SPEC §15): what a user publishes at a claim's proof
//! location, signed by the key whose chain holds the claim.

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Claim, LinkError, PROOF_TAG, PROOF_TYPE, Service, sign_envelope};
use crate::identity::Identity;
use crate::json;
use crate::signed::{PayloadHead, SignedEnvelope};
use crate::time::strict_utc_seconds;

/// A proof statement that passed [`verify_proof`].
#[derive(Debug, Clone)]
pub struct ProofStatement {
    /// The key that signed it.
    pub primary: Identity,
    /// The service of the claim it proves.
    pub service: Service,
    /// The name on that service.
    pub name: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProof {
    #[serde(rename = "type")]
    kind: String,
    version: u64,
    primary: String,
    service: String,
    name: String,
    created_at: String,
}

/// The payload of a proof statement, ready to sign with [`sign_proof`].
#[must_use]
pub fn proof_payload(primary: &Identity, claim: &Claim, created_at: &str) -> Value {
    json!({"type": PROOF_TYPE, "version": 1, "primary": primary.to_string(),
           "service": claim.service.as_str(), "name": claim.name, "created_at": created_at})
}

/// Signs `payload` (a proof statement's) into its envelope.
#[must_use]
pub fn sign_proof(signer: &SigningKey, payload: &Value) -> Value {
    sign_envelope(signer, PROOF_TAG, payload)
}

/// Checks a proof statement: safe numbers, shape, envelope and signature
/// (the link codes), then `unknown_service`, `invalid_claim_name`,
/// `invalid_timestamp`. No clock window: a statement stays valid while
/// its claim is active. Whether its key and name match the claim is the
/// caller's comparison.
pub fn verify_proof(envelope: &Value) -> Result<ProofStatement, LinkError> {
    json::ensure_safe_numbers(envelope)?;
    let env: SignedEnvelope = json::from_object(envelope).map_err(LinkError::InvalidBody)?;
    let p: RawProof =
        json::from_object_at(&env.payload, "payload").map_err(LinkError::InvalidBody)?;
    let head = PayloadHead {
        kind: &p.kind,
        version: p.version,
        primary: &p.primary,
    };
    let primary = env.check(PROOF_TAG, PROOF_TYPE, &head)?;
    let service = Service::parse(&p.service)?;
    if !service.valid_name(&p.name) {
        return Err(LinkError::InvalidClaimName);
    }
    let created_at = strict_utc_seconds(&p.created_at).ok_or(LinkError::InvalidTimestamp)?;
    Ok(ProofStatement {
        primary,
        service,
        name: p.name,
        created_at,
    })
}
