//! The sealed box under every envelope (SPEC §8 steps 1-7): X25519 to the
//! recipient's key, HKDF-SHA256, AES-256-GCM with an AAD naming the
//! recipient. Apart from the message layer because the visual-key wrap
//! (SPEC §14.3) seals its own bytes with it under another domain.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ed25519_dalek::SigningKey;
use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

use super::OpenError;
use crate::identity::Identity;

/// SPEC §8 steps 1-7 under `domain` (HKDF info and AAD prefix): encrypts
/// `plaintext` to `recipient`, returning `epk` and `ct` (ciphertext ‖ tag).
/// Shared with the visual-key wrap (SPEC §14.3), which uses its own domain.
pub(crate) fn seal_bytes(
    domain: &str,
    plaintext: &[u8],
    recipient: &Identity,
    ephemeral_secret: [u8; 32],
    nonce: [u8; 12],
) -> Result<([u8; 32], Vec<u8>), OpenError> {
    let rx_pub = PublicKey::from(recipient.to_montgomery_bytes());
    let eph = StaticSecret::from(ephemeral_secret);
    let epk = PublicKey::from(&eph);
    let key = derive_key(domain, &eph.diffie_hellman(&rx_pub), &epk, &rx_pub)?;
    let aad = aad(domain, &epk, &recipient.to_string());
    let ct = Aes256Gcm::new_from_slice(&key)
        .map_err(|_| OpenError::DecryptFailed)?
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| OpenError::DecryptFailed)?;
    Ok((epk.to_bytes(), ct))
}

/// The inverse of [`seal_bytes`] for the holder of `seed`: X25519 with the
/// seed's scalar, HKDF and AES-256-GCM with the AAD naming the holder.
pub(crate) fn open_bytes(
    domain: &str,
    epk: [u8; 32],
    nonce: [u8; 12],
    ct: &[u8],
    seed: &[u8; 32],
) -> Result<Vec<u8>, OpenError> {
    let me = SigningKey::from_bytes(seed);
    let my_primary = Identity::from_bytes(me.verifying_key().as_bytes())
        .map_err(|_| OpenError::DecryptFailed)?
        .to_string();
    let secret = StaticSecret::from(me.to_scalar_bytes());
    let epk = PublicKey::from(epk);
    let key = derive_key(
        domain,
        &secret.diffie_hellman(&epk),
        &epk,
        &PublicKey::from(&secret),
    )?;
    let aad = aad(domain, &epk, &my_primary);
    Aes256Gcm::new_from_slice(&key)
        .map_err(|_| OpenError::DecryptFailed)?
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ct,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| OpenError::DecryptFailed)
}

/// HKDF-SHA256 over the X25519 result, salted with `epk ‖ rx_pub`, info `domain`.
fn derive_key(
    domain: &str,
    shared: &x25519_dalek::SharedSecret,
    epk: &PublicKey,
    rx_pub: &PublicKey,
) -> Result<[u8; 32], OpenError> {
    if !shared.was_contributory() {
        return Err(OpenError::DecryptFailed);
    }
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(epk.as_bytes());
    salt[32..].copy_from_slice(rx_pub.as_bytes());
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&salt), shared.as_bytes())
        .expand(domain.as_bytes(), &mut key)
        .map_err(|_| OpenError::DecryptFailed)?;
    Ok(key)
}

/// The AAD binding the ciphertext to its domain, `epk` and recipient.
fn aad(domain: &str, epk: &PublicKey, recipient_primary: &str) -> String {
    format!(
        "{domain}\n{}\n{recipient_primary}",
        hex::encode(epk.as_bytes())
    )
}
