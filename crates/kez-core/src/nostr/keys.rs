//! Client-side nostr keys and signing (SPEC §12, feature `nostr-keys`): the
//! secp256k1 key derived from the KEZ seed, and BIP-340 signed events.

use hkdf::Hkdf;
use k256::schnorr::{Signature, SigningKey, VerifyingKey};
use sha2::Sha256;

use super::{Event, Reject, check_unsigned, event_id};

/// HKDF info of the nostr key; retries append one counter byte 0x01, 0x02, ….
pub const KEY_INFO: &str = "kez.chat.nostr.key.v1";

/// The nostr secret key of a 32-byte KEZ identity seed (SPEC §12), 32 bytes
/// big-endian: `HKDF-SHA256(ikm = seed, salt = none, info =
/// "kez.chat.nostr.key.v1", L = 32)`, valid iff `1 <= k < n`; else the info
/// gets one more byte 0x01, 0x02, … and the first valid output wins (each
/// retry happens with probability about 2^-128).
///
/// # Panics
/// If all 256 candidates are invalid (probability about 2^-32768).
#[must_use]
pub fn nostr_secret_key(seed: &[u8; 32]) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(None, seed);
    for counter in 0..=u8::MAX {
        let mut info = KEY_INFO.as_bytes().to_vec();
        if counter > 0 {
            info.push(counter);
        }
        let mut k = [0u8; 32];
        if hk.expand(&info, &mut k).is_ok() && SigningKey::from_slice(&k).is_ok() {
            return k;
        }
    }
    unreachable!("256 HKDF outputs outside [1, n)")
}

/// The BIP-340 x-only public key (32 bytes) of a secret key, or `None` if
/// `secret` is not a valid scalar (`0` or `>= n`).
#[must_use]
pub fn public_key(secret: &[u8; 32]) -> Option<[u8; 32]> {
    let sk = SigningKey::from_slice(secret).ok()?;
    Some(sk.verifying_key().to_bytes().into())
}

/// Builds and signs a NIP-01 event with `secret` (for kinds 4243/4244 a
/// fresh one-time key, never the derived key) and the 32 bytes of BIP-340
/// auxiliary randomness `aux` (random in use; fixed only for vectors).
/// `None` if `secret` is not a valid scalar.
#[must_use]
pub fn sign_event(
    secret: &[u8; 32],
    aux: &[u8; 32],
    created_at: i64,
    kind: u16,
    tags: Vec<Vec<String>>,
    content: String,
) -> Option<Event> {
    let sk = SigningKey::from_slice(secret).ok()?;
    let pubkey = hex::encode(sk.verifying_key().to_bytes());
    let id = event_id(&pubkey, created_at, kind, &tags, &content);
    let sig = sk.sign_raw(&id, aux).ok()?;
    Some(Event {
        id: hex::encode(id),
        pubkey,
        created_at,
        kind,
        tags,
        content,
        sig: hex::encode(sig.to_bytes()),
    })
}

/// Whether `event` has a correct id and a valid BIP-340 signature by its
/// `pubkey` over the 32 id bytes (NIP-01). Hex must be lowercase.
#[must_use]
pub fn verify(event: &Event) -> bool {
    let lower = |s: &str| !s.bytes().any(|b| b.is_ascii_uppercase());
    if !event.id_matches() || !lower(&event.pubkey) || !lower(&event.sig) {
        return false;
    }
    let (Ok(pk), Ok(sig), Ok(id)) = (
        hex::decode(&event.pubkey),
        hex::decode(&event.sig),
        hex::decode(&event.id),
    ) else {
        return false;
    };
    let (Ok(vk), Ok(sig)) = (VerifyingKey::from_slice(&pk), Signature::from_slice(&sig)) else {
        return false;
    };
    vk.verify_raw(&id, &sig).is_ok()
}

/// All checks of SPEC §12 in the shared order: [`check_unsigned`] (kind,
/// `q`, freshness at `now` in unix seconds, id), then the BIP-340
/// signature. Returns the routing addr from the `q` tag.
///
/// # Errors
/// The first [`Reject`] that applies.
pub fn check_kez_event(event: &Event, now: i64) -> Result<&str, Reject> {
    let q = check_unsigned(event, now)?;
    if verify(event) {
        Ok(q)
    } else {
        Err(Reject::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{KIND_MESSAGE, tags};
    use super::*;

    #[test]
    fn derived_key_is_deterministic_and_valid() {
        let a = nostr_secret_key(&[1u8; 32]);
        assert_eq!(a, nostr_secret_key(&[1u8; 32]));
        assert_ne!(a, nostr_secret_key(&[2u8; 32]));
        assert!(public_key(&a).is_some());
        assert!(public_key(&[0u8; 32]).is_none());
        assert!(public_key(&[0xff; 32]).is_none());
    }

    #[test]
    fn signed_events_verify_and_tampering_fails() {
        let sk = [3u8; 32];
        let q = "ab".repeat(32);
        let ev = sign_event(
            &sk,
            &[0; 32],
            1000,
            KIND_MESSAGE,
            tags(&q, 1000),
            "{}".into(),
        )
        .unwrap();
        assert!(verify(&ev));
        assert_eq!(check_kez_event(&ev, 1000), Ok(q.as_str()));
        assert_eq!(check_kez_event(&ev, 1000 + 172_801), Err(Reject::Stale));
        assert_eq!(check_kez_event(&ev, 1000 - 301), Err(Reject::Future));
        let mut bad = ev.clone();
        bad.kind = 1;
        assert_eq!(check_kez_event(&bad, 1000), Err(Reject::WrongKind));
        let mut bad = ev.clone();
        bad.sig = "00".repeat(64);
        assert_eq!(check_kez_event(&bad, 1000), Err(Reject::BadSignature));
        let mut bad = ev.clone();
        bad.tags[0][1] = q.to_uppercase();
        assert_eq!(check_kez_event(&bad, 1000), Err(Reject::BadRoute));
        let mut bad = ev.clone();
        bad.content = "{ }".into();
        assert!(!verify(&bad));
        let mut bad = ev.clone();
        bad.sig = format!("{}00", &ev.sig[..126]);
        assert!(!verify(&bad));
        let mut bad = ev;
        bad.sig = bad.sig.to_uppercase();
        assert!(!verify(&bad));
    }
}
