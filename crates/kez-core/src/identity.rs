//! `ed25519:<hex>` identities and hex signatures (SPEC §1).

use std::fmt;

use ed25519_dalek::{Signature, VerifyingKey};

/// The only identity algorithm kez-chat accepts.
pub const ED25519_PREFIX: &str = "ed25519:";

/// Why a string is not a usable identity or signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Not `ed25519:` followed by 64 lowercase hex chars.
    #[error("a KEZ primary is `ed25519:` followed by 64 lowercase hex characters")]
    Malformed,
    /// The bytes are not a valid curve point.
    #[error("the key is not a valid Ed25519 public key")]
    NotOnCurve,
    /// Small-order keys verify forged signatures; never accept them.
    #[error("the key is a weak (small-order) Ed25519 key")]
    Weak,
}

/// A validated Ed25519 public identity: the KEZ "primary".
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    key: VerifyingKey,
}

impl Identity {
    /// Parses `ed25519:<64 lowercase hex>`, rejecting invalid and weak points.
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        let hex_part = s
            .strip_prefix(ED25519_PREFIX)
            .ok_or(IdentityError::Malformed)?;
        let bytes = parse_lower_hex::<32>(hex_part).ok_or(IdentityError::Malformed)?;
        Self::from_bytes(&bytes)
    }

    /// Builds an identity from raw public key bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, IdentityError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| IdentityError::NotOnCurve)?;
        if key.is_weak() {
            return Err(IdentityError::Weak);
        }
        Ok(Self { key })
    }

    /// The lowercase hex of the 32 public key bytes (no prefix).
    pub fn hex(&self) -> String {
        hex::encode(self.key.as_bytes())
    }

    /// The X25519 public key of this Ed25519 key (RFC 7748 birational map),
    /// so only the Ed25519 primary ever needs publishing.
    pub fn to_montgomery_bytes(&self) -> [u8; 32] {
        self.key.to_montgomery().to_bytes()
    }

    /// Strict RFC 8032 verification (rejects non-canonical and small-order parts).
    pub fn verify(&self, message: &[u8], sig: &SignatureHex) -> bool {
        self.key.verify_strict(message, &sig.0).is_ok()
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ED25519_PREFIX}{}", self.hex())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({self})")
    }
}

/// A 64-byte Ed25519 signature parsed from 128 lowercase hex chars.
#[derive(Clone)]
pub struct SignatureHex(Signature);

impl SignatureHex {
    /// Parses exactly 128 lowercase hex characters.
    pub fn parse(s: &str) -> Option<Self> {
        parse_lower_hex::<64>(s).map(|b| Self(Signature::from_bytes(&b)))
    }
}

/// Decodes exactly `N` bytes of lowercase hex; upper case is refused so every
/// value has a single spelling.
pub(crate) fn parse_lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn round_trips_through_display() {
        let id = Identity::from_bytes(key().verifying_key().as_bytes()).unwrap();
        let s = id.to_string();
        assert!(s.starts_with("ed25519:") && s.len() == 8 + 64);
        assert_eq!(Identity::parse(&s).unwrap(), id);
    }

    #[test]
    fn rejects_malformed_identities() {
        let good = Identity::from_bytes(key().verifying_key().as_bytes())
            .unwrap()
            .to_string();
        for bad in [
            "",
            "ed25519:",
            &good.to_uppercase(),
            &good.replace("ed25519:", "x25519:"),
            &good[..good.len() - 1],
            &format!("{good}0"),
            &format!(" {good}"),
        ] {
            assert_eq!(Identity::parse(bad), Err(IdentityError::Malformed), "{bad}");
        }
    }

    #[test]
    fn rejects_small_order_keys() {
        // The identity point (0, 1) encodes as 0x01 followed by zeros.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        assert_eq!(Identity::from_bytes(&weak), Err(IdentityError::Weak));
    }

    #[test]
    fn verifies_only_the_signed_message() {
        let sk = key();
        let id = Identity::from_bytes(sk.verifying_key().as_bytes()).unwrap();
        let sig = hex::encode(sk.sign(b"hello").to_bytes());
        let sig = SignatureHex::parse(&sig).unwrap();
        assert!(id.verify(b"hello", &sig));
        assert!(!id.verify(b"hellp", &sig));
    }

    #[test]
    fn rejects_non_canonical_s() {
        let sk = key();
        let id = Identity::from_bytes(sk.verifying_key().as_bytes()).unwrap();
        let mut sig = sk.sign(b"m").to_bytes();
        // Add the group order L to S: same signature mathematically, non-canonical encoding.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for i in 0..32 {
            let [low, high] = (u16::from(sig[32 + i]) + u16::from(L[i]) + carry).to_le_bytes();
            sig[32 + i] = low;
            carry = u16::from(high);
        }
        let sig = SignatureHex::parse(&hex::encode(sig)).unwrap();
        assert!(!id.verify(b"m", &sig));
    }

    #[test]
    fn signature_hex_requires_128_lowercase_chars() {
        assert!(SignatureHex::parse(&"a".repeat(128)).is_some());
        assert!(SignatureHex::parse(&"A".repeat(128)).is_none());
        assert!(SignatureHex::parse(&"a".repeat(126)).is_none());
    }
}
