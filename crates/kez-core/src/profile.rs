//! Profile documents (SPEC §14.4, §14.5): a handle's display name and
//! picture, signed by its primary like a registration (SPEC §2, §4).
//!
//! The server checks them before storing the bytes as sent; readers check
//! them against the primary they already know. Both use [`verify_profile`],
//! in the SPEC §14.5 order.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey};
use serde::Deserialize;
use serde_json::{Value, json};

use super::handle::Handle;
use super::identity::{Identity, IdentityError, parse_lower_hex};
use super::json::{self, JsonError};
use super::signed::{ALG, MAX_SKEW_SECS, PayloadHead, SignedEnvelope};
use super::time::strict_utc_seconds;

/// Envelope tag of a profile.
pub const PROFILE_TAG: &str = "profile";
/// Payload type of a profile.
pub const PROFILE_TYPE: &str = "kez.chat.profile";
/// Largest profile document, in bytes.
pub const MAX_PROFILE_BYTES: usize = 256 * 1024;
/// Longest base64 part of `picture` (200 KiB of characters).
pub const MAX_PICTURE_B64: usize = 200 * 1024;
/// Most key wraps in `visual_keys`.
pub const MAX_WRAPS: usize = 1000;
/// Longest display name, in Unicode code points.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Prefix of a PNG picture.
pub const PNG_PREFIX: &str = "data:image/png;base64,";
/// Prefix of a JPEG picture.
pub const JPEG_PREFIX: &str = "data:image/jpeg;base64,";

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG_MAGIC: &[u8] = b"\xff\xd8\xff";

/// Every way a profile can be refused, one per SPEC §14.5 code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// `unsafe_number`
    #[error("numbers in signed payloads must be integers between -(2^53-1) and 2^53-1")]
    UnsafeNumber,
    /// `invalid_body`
    #[error("the profile does not have the expected fields: {0}")]
    InvalidBody(String),
    /// `wrong_envelope_tag`
    #[error("the envelope tag must be \"profile\"")]
    WrongEnvelopeTag,
    /// `wrong_payload_type`
    #[error("the payload type must be \"kez.chat.profile\"")]
    WrongPayloadType,
    /// `unsupported_version`
    #[error("only version 1 profiles are supported")]
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
    #[error("this profile is for another server")]
    WrongServer,
    /// `invalid_handle`
    #[error("the handle is not a valid handle")]
    InvalidHandle,
    /// `invalid_timestamp`
    #[error("updated_at must be YYYY-MM-DDTHH:MM:SSZ")]
    InvalidTimestamp,
    /// `stale_timestamp`
    #[error("updated_at must be within 5 minutes of the server's clock")]
    StaleTimestamp,
    /// `invalid_display_name`
    #[error(
        "display_name must be 1-64 characters, trimmed, without control, bidi or invisible characters"
    )]
    InvalidDisplayName,
    /// `invalid_picture`
    #[error("picture must be a PNG or JPEG data URL of at most 200 KiB of base64")]
    InvalidPicture,
    /// `invalid_visual_keys`
    #[error("visual_keys must hold 1-1000 well-formed wraps with a scrambled picture, else none")]
    InvalidVisualKeys,
}

impl ProfileError {
    /// The stable machine-readable code of SPEC §14.5.
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
            Self::InvalidHandle => "invalid_handle",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::StaleTimestamp => "stale_timestamp",
            Self::InvalidDisplayName => "invalid_display_name",
            Self::InvalidPicture => "invalid_picture",
            Self::InvalidVisualKeys => "invalid_visual_keys",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    #[serde(rename = "type")]
    kind: String,
    version: u64,
    handle: String,
    server: String,
    primary: String,
    display_name: Option<String>,
    picture: Option<String>,
    #[serde(deserialize_with = "json::objects")]
    visual_keys: Vec<RawWrap>,
    updated_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWrap {
    epk: String,
    nonce: String,
    ct: String,
}

/// A profile that passed every document check of SPEC §14.5.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The handle it describes.
    pub handle: Handle,
    /// The key that signed it.
    pub primary: Identity,
    /// When it was made; a newer document replaces an older one.
    pub updated_at: DateTime<Utc>,
}

/// Checks a strictly parsed profile document in SPEC §14.5 order (steps
/// 0-10). `now` is the server's clock for the ±5 min window; readers of a
/// stored profile pass `None` (an old profile is still that user's).
pub fn verify_profile(
    body: &Value,
    server_domain: &str,
    now: Option<DateTime<Utc>>,
) -> Result<Profile, ProfileError> {
    let (env, p) = parse_shape(body)?;
    let head = PayloadHead {
        kind: &p.kind,
        version: p.version,
        primary: &p.primary,
    };
    let primary = env.check(PROFILE_TAG, PROFILE_TYPE, &head)?;
    if p.server != server_domain {
        return Err(ProfileError::WrongServer);
    }
    let handle = Handle::parse(&p.handle).map_err(|_| ProfileError::InvalidHandle)?;
    let updated_at = strict_utc_seconds(&p.updated_at).ok_or(ProfileError::InvalidTimestamp)?;
    if now.is_some_and(|now| (now - updated_at).num_seconds().abs() > MAX_SKEW_SECS) {
        return Err(ProfileError::StaleTimestamp);
    }
    check_contents(&p)?;
    Ok(Profile {
        handle,
        primary,
        updated_at,
    })
}

// Step 0: safe numbers, then the exact envelope and payload shape.
crate::signed::from_envelope_fault!(ProfileError);

fn parse_shape(body: &Value) -> Result<(SignedEnvelope, RawProfile), ProfileError> {
    json::ensure_safe_numbers(body).map_err(|e| match e {
        JsonError::UnsafeNumber => ProfileError::UnsafeNumber,
        JsonError::Invalid(m) => ProfileError::InvalidBody(m),
    })?;
    let env: SignedEnvelope = json::from_object(body).map_err(ProfileError::InvalidBody)?;
    // serde lets an `Option` field be absent; the SPEC wants it present, even as null.
    for field in ["display_name", "picture"] {
        if env.payload.get(field).is_none() {
            return Err(ProfileError::InvalidBody(format!(
                "the field `payload.{field}` is missing"
            )));
        }
    }
    let p: RawProfile =
        json::from_object_at(&env.payload, "payload").map_err(ProfileError::InvalidBody)?;
    Ok((env, p))
}

/// Steps 8-10: display name, picture, key wraps.
fn check_contents(p: &RawProfile) -> Result<(), ProfileError> {
    if p.display_name
        .as_deref()
        .is_some_and(|n| !valid_display_name(n))
    {
        return Err(ProfileError::InvalidDisplayName);
    }
    let scrambled = match p.picture.as_deref() {
        None => false,
        Some(pic) => picture_is_scrambled(pic).ok_or(ProfileError::InvalidPicture)?,
    };
    let wraps_ok = if scrambled {
        (1..=MAX_WRAPS).contains(&p.visual_keys.len())
            && p.visual_keys
                .iter()
                .all(|w| valid_wrap(&w.epk, &w.nonce, &w.ct))
    } else {
        p.visual_keys.is_empty()
    };
    if !wraps_ok {
        return Err(ProfileError::InvalidVisualKeys);
    }
    Ok(())
}

/// 1..=64 code points, no control character, no bidi/invisible character
/// ([`crate::text::is_spoofing_char`]), no white space at either end.
#[must_use]
pub fn valid_display_name(name: &str) -> bool {
    let edge = |c: char| c.is_whitespace() || c == '\u{feff}';
    (1..=MAX_DISPLAY_NAME_CHARS).contains(&name.chars().count())
        && !name
            .chars()
            .any(|c| c.is_control() || crate::text::is_spoofing_char(c))
        && !name.starts_with(edge)
        && !name.ends_with(edge)
}

/// `Some(true)` for a valid scrambled PNG (with its salt fragment),
/// `Some(false)` for a valid plain PNG or JPEG, `None` for anything else.
#[must_use]
pub fn picture_is_scrambled(picture: &str) -> Option<bool> {
    let (url, fragment) = match picture.split_once('#') {
        Some((url, frag)) => (url, Some(frag)),
        None => (picture, None),
    };
    if let Some(frag) = fragment {
        parse_lower_hex::<16>(frag.strip_prefix("kez-visual-v1:")?)?;
    }
    let (b64, magic) = if let Some(b64) = url.strip_prefix(PNG_PREFIX) {
        (b64, PNG_MAGIC)
    } else if let Some(b64) = url.strip_prefix(JPEG_PREFIX) {
        // A JPEG is lossy: a scrambled one could not be unscrambled.
        if fragment.is_some() {
            return None;
        }
        (b64, JPEG_MAGIC)
    } else {
        return None;
    };
    if b64.is_empty() || b64.len() > MAX_PICTURE_B64 {
        return None;
    }
    let bytes = STANDARD.decode(b64).ok()?;
    let canonical = STANDARD.encode(&bytes) == b64;
    (canonical && bytes.starts_with(magic)).then_some(fragment.is_some())
}

/// A well-formed wrap: `epk` 64 hex, `nonce` 24 hex, `ct` canonical b64url
/// of 48 bytes (a 32-byte key and the 16-byte tag).
#[must_use]
pub fn valid_wrap(epk: &str, nonce: &str, ct: &str) -> bool {
    parse_lower_hex::<32>(epk).is_some()
        && parse_lower_hex::<12>(nonce).is_some()
        && super::file::decode_b64url(ct).is_some_and(|b| b.len() == 48)
}

/// Signs `payload` as a profile document of `signer` (for clients, tools and vectors).
#[must_use]
pub fn sign_profile(signer: &SigningKey, payload: &Value) -> Value {
    let sig = signer.sign(&json::canonical_bytes(payload));
    let key = format!("ed25519:{}", hex::encode(signer.verifying_key().as_bytes()));
    json!({"kez": PROFILE_TAG, "payload": payload,
           "signature": {"alg": ALG, "key": key, "sig": hex::encode(sig.to_bytes())}})
}

#[cfg(test)]
mod tests;
