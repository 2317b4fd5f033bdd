//! Signed envelopes (`ed25519-sha512-jcs`, SPEC §2) and the handle
//! registration envelope (SPEC §4), checked in the README's order.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::handle::{Handle, HandleError};
use super::identity::{Identity, IdentityError, SignatureHex};
use super::json::{self, JsonError};

/// The only signature algorithm name kez-chat accepts.
pub const ALG: &str = "ed25519-sha512-jcs";
/// Envelope tag of a registration.
pub const REGISTRATION_TAG: &str = "handle_registration";
/// Payload type of a registration.
pub const REGISTRATION_TYPE: &str = "kez.chat.handle_registration";
/// Allowed clock skew for `created_at`, both directions.
pub const MAX_SKEW_SECS: i64 = 300;

/// Every way a registration can be refused, one per SPEC §4 error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// `unsafe_number`
    #[error("numbers in signed payloads must be integers between -(2^53-1) and 2^53-1")]
    UnsafeNumber,
    /// `invalid_body`
    #[error("the registration body does not have the expected fields: {0}")]
    InvalidBody(String),
    /// `wrong_envelope_tag`
    #[error("the envelope tag must be \"handle_registration\"")]
    WrongEnvelopeTag,
    /// `wrong_payload_type`
    #[error("the payload type must be \"kez.chat.handle_registration\"")]
    WrongPayloadType,
    /// `unsupported_version`
    #[error("only version 1 registrations are supported")]
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
    /// `wrong_server`
    #[error("this registration is for another server")]
    WrongServer,
    /// `invalid_handle` or `reserved_handle`
    #[error("{0}")]
    InvalidHandle(HandleError),
    /// `invalid_timestamp`
    #[error("created_at must be an RFC 3339 timestamp")]
    InvalidTimestamp,
    /// `stale_timestamp`
    #[error("created_at must be within 5 minutes of the server's clock")]
    StaleTimestamp,
}

impl RegistrationError {
    /// The stable machine-readable code of SPEC §4.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsafeNumber => "unsafe_number",
            Self::InvalidBody(_) => "invalid_body",
            Self::WrongEnvelopeTag => "wrong_envelope_tag",
            Self::WrongPayloadType => "wrong_payload_type",
            Self::UnsupportedVersion => "unsupported_version",
            Self::KeyMismatch => "key_mismatch",
            Self::UnsupportedAlg => "unsupported_alg",
            Self::InvalidKey(_) => "invalid_key",
            Self::InvalidSignature => "invalid_signature",
            Self::WrongServer => "wrong_server",
            Self::InvalidHandle(HandleError::Reserved) => "reserved_handle",
            Self::InvalidHandle(HandleError::Invalid) => "invalid_handle",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::StaleTimestamp => "stale_timestamp",
        }
    }
}

/// A signed JCS document as sent (SPEC §2, §4, §14.4): `{"kez", "payload",
/// "signature": {"alg", "key", "sig"}}`, no other fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignedEnvelope {
    pub(crate) kez: String,
    pub(crate) payload: Value,
    #[serde(deserialize_with = "json::object")]
    signature: RawSignature,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignature {
    alg: String,
    key: String,
    sig: String,
}

/// What the envelope checks shared by registrations (SPEC §4 steps 1-4) and
/// profiles (§14.5) refuse, in that order; each document maps them to its
/// own error type.
pub(crate) enum EnvelopeFault {
    WrongEnvelopeTag,
    WrongPayloadType,
    UnsupportedVersion,
    KeyMismatch,
    UnsupportedAlg,
    InvalidKey(IdentityError),
    InvalidSignature,
}

/// `From<EnvelopeFault>` for a document's error type, whose variants carry
/// the fault's names (registration, profile, sigchain link: one mapping).
macro_rules! from_envelope_fault {
    ($t:ty) => {
        impl From<$crate::signed::EnvelopeFault> for $t {
            fn from(f: $crate::signed::EnvelopeFault) -> Self {
                use $crate::signed::EnvelopeFault as F;
                match f {
                    F::WrongEnvelopeTag => Self::WrongEnvelopeTag,
                    F::WrongPayloadType => Self::WrongPayloadType,
                    F::UnsupportedVersion => Self::UnsupportedVersion,
                    F::KeyMismatch => Self::KeyMismatch,
                    F::UnsupportedAlg => Self::UnsupportedAlg,
                    F::InvalidKey(e) => Self::InvalidKey(e),
                    F::InvalidSignature => Self::InvalidSignature,
                }
            }
        }
    };
}
pub(crate) use from_envelope_fault;

/// The payload fields the envelope checks read.
pub(crate) struct PayloadHead<'a> {
    /// `payload.type`.
    pub(crate) kind: &'a str,
    /// `payload.version`.
    pub(crate) version: u64,
    /// `payload.primary`.
    pub(crate) primary: &'a str,
}

impl SignedEnvelope {
    /// Tag, payload type, version 1, `signature.key == payload.primary`,
    /// algorithm, then the strict signature over the payload's JCS; returns the
    /// verified primary.
    pub(crate) fn check(
        &self,
        tag: &str,
        payload_type: &str,
        head: &PayloadHead<'_>,
    ) -> Result<Identity, EnvelopeFault> {
        let primary = self.check_unsigned(tag, payload_type, head)?;
        let sig =
            SignatureHex::parse(&self.signature.sig).ok_or(EnvelopeFault::InvalidSignature)?;
        if !primary.verify(&json::canonical_bytes(&self.payload), &sig) {
            return Err(EnvelopeFault::InvalidSignature);
        }
        Ok(primary)
    }

    /// [`Self::check`] without the signature: for documents this side
    /// verified before storing them (a stored sigchain link, SPEC §15).
    pub(crate) fn check_unsigned(
        &self,
        tag: &str,
        payload_type: &str,
        head: &PayloadHead<'_>,
    ) -> Result<Identity, EnvelopeFault> {
        if self.kez != tag {
            return Err(EnvelopeFault::WrongEnvelopeTag);
        }
        if head.kind != payload_type {
            return Err(EnvelopeFault::WrongPayloadType);
        }
        if head.version != 1 {
            return Err(EnvelopeFault::UnsupportedVersion);
        }
        if self.signature.key != head.primary {
            return Err(EnvelopeFault::KeyMismatch);
        }
        if self.signature.alg != ALG {
            return Err(EnvelopeFault::UnsupportedAlg);
        }
        Identity::parse(head.primary).map_err(EnvelopeFault::InvalidKey)
    }
}

from_envelope_fault!(RegistrationError);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistration {
    #[serde(rename = "type")]
    kind: String,
    version: u64,
    handle: String,
    primary: String,
    server: String,
    created_at: String,
}

/// A registration that passed every check of SPEC §4.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The handle being claimed.
    pub handle: Handle,
    /// The key that signed the claim.
    pub primary: Identity,
    /// When the client made the claim.
    pub created_at: DateTime<Utc>,
}

/// Checks a strictly parsed registration body in SPEC §4 order.
pub fn verify_registration(
    body: &Value,
    server_domain: &str,
    now: DateTime<Utc>,
) -> Result<Registration, RegistrationError> {
    json::ensure_safe_numbers(body).map_err(|e| match e {
        JsonError::UnsafeNumber => RegistrationError::UnsafeNumber,
        JsonError::Invalid(m) => RegistrationError::InvalidBody(m),
    })?;
    let env: SignedEnvelope = json::from_object(body).map_err(RegistrationError::InvalidBody)?;
    let payload: RawRegistration =
        json::from_object_at(&env.payload, "payload").map_err(RegistrationError::InvalidBody)?;

    let head = PayloadHead {
        kind: &payload.kind,
        version: payload.version,
        primary: &payload.primary,
    };
    let primary = env.check(REGISTRATION_TAG, REGISTRATION_TYPE, &head)?;
    if payload.server != server_domain {
        return Err(RegistrationError::WrongServer);
    }
    let handle =
        Handle::parse_registrable(&payload.handle).map_err(RegistrationError::InvalidHandle)?;
    let created_at = DateTime::parse_from_rfc3339(&payload.created_at)
        .map_err(|_| RegistrationError::InvalidTimestamp)?
        .with_timezone(&Utc);
    if (now - created_at).num_seconds().abs() > MAX_SKEW_SECS {
        return Err(RegistrationError::StaleTimestamp);
    }
    Ok(Registration {
        handle,
        primary,
        created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-05-25T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[allow(clippy::needless_pass_by_value)] // call sites read better passing owned payloads
    fn envelope(sk: &SigningKey, payload: Value) -> Value {
        let sig = sk.sign(&json::canonical_bytes(&payload));
        let key = format!("ed25519:{}", hex::encode(sk.verifying_key().as_bytes()));
        json!({"kez": REGISTRATION_TAG, "payload": payload,
               "signature": {"alg": ALG, "key": key, "sig": hex::encode(sig.to_bytes())}})
    }

    fn payload(sk: &SigningKey) -> Value {
        json!({"type": REGISTRATION_TYPE, "version": 1, "handle": "alice",
               "primary": format!("ed25519:{}", hex::encode(sk.verifying_key().as_bytes())),
               "server": "kez.lat", "created_at": "2026-05-25T03:01:00Z"})
    }

    #[test]
    fn accepts_a_well_signed_registration() {
        let sk = SigningKey::from_bytes(&[1; 32]);
        let r = verify_registration(&envelope(&sk, payload(&sk)), "kez.lat", now()).unwrap();
        assert_eq!(r.handle.as_str(), "alice");
    }

    #[test]
    fn each_failure_has_its_own_code() {
        let sk = SigningKey::from_bytes(&[1; 32]);
        let other = SigningKey::from_bytes(&[2; 32]);
        let cases: Vec<(&str, Value)> = vec![
            ("wrong_envelope_tag", {
                let mut e = envelope(&sk, payload(&sk));
                e["kez"] = json!("other");
                e
            }),
            ("wrong_payload_type", {
                let mut p = payload(&sk);
                p["type"] = json!("x");
                envelope(&sk, p)
            }),
            ("unsupported_version", {
                let mut p = payload(&sk);
                p["version"] = json!(2);
                envelope(&sk, p)
            }),
            ("key_mismatch", {
                let mut e = envelope(&sk, payload(&sk));
                e["signature"]["key"] = json!(format!(
                    "ed25519:{}",
                    hex::encode(other.verifying_key().as_bytes())
                ));
                e
            }),
            ("unsupported_alg", {
                let mut e = envelope(&sk, payload(&sk));
                e["signature"]["alg"] = json!("ed25519");
                e
            }),
            ("invalid_signature", {
                let mut e = envelope(&sk, payload(&sk));
                e["signature"]["sig"] = envelope(&other, payload(&sk))["signature"]["sig"].clone();
                e
            }),
            ("invalid_signature", {
                let mut e = envelope(&sk, payload(&sk));
                e["payload"]["created_at"] = json!("2026-05-25T03:01:01Z");
                e
            }),
            ("wrong_server", {
                let mut p = payload(&sk);
                p["server"] = json!("evil.example");
                envelope(&sk, p)
            }),
            ("invalid_handle", {
                let mut p = payload(&sk);
                p["handle"] = json!("A");
                envelope(&sk, p)
            }),
            ("reserved_handle", {
                let mut p = payload(&sk);
                p["handle"] = json!("admin");
                envelope(&sk, p)
            }),
            ("invalid_timestamp", {
                let mut p = payload(&sk);
                p["created_at"] = json!("yesterday");
                envelope(&sk, p)
            }),
            ("stale_timestamp", {
                let mut p = payload(&sk);
                p["created_at"] = json!("2026-05-25T02:54:59Z");
                envelope(&sk, p)
            }),
            ("stale_timestamp", {
                let mut p = payload(&sk);
                p["created_at"] = json!("2026-05-25T03:05:01Z");
                envelope(&sk, p)
            }),
            ("invalid_body", {
                let mut p = payload(&sk);
                p["extra"] = json!(true);
                envelope(&sk, p)
            }),
            ("unsafe_number", {
                let mut p = payload(&sk);
                p["version"] = json!(1.5);
                envelope(&sk, p)
            }),
        ];
        for (code, body) in cases {
            let err = verify_registration(&body, "kez.lat", now()).unwrap_err();
            assert_eq!(err.code(), code, "{err}");
        }
    }
}
