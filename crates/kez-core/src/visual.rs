//! Visual encryption of profile pictures (SPEC §14.2, §14.3): a keyed
//! Fisher-Yates permutation of the pixels driven by xoshiro256**, and the
//! picture key wrapped per reader with the envelope v2 construction.
//!
//! xoshiro256** is written out here (a dozen lines, Blackman and Vigna's
//! public-domain reference `xoshiro256starstar.c`) rather than taken from
//! `rand_xoshiro`: that crate seeds an all-zero state differently from
//! SPEC §14.2 and would bring `rand_core` for one function. Its outputs are
//! pinned by the reference values in the tests and by
//! `tests/vectors/media.json`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::envelope::{OpenError, open_bytes, seal_bytes};
use super::identity::{Identity, parse_lower_hex};

/// HKDF info of the PRNG seed.
pub const SEED_INFO: &str = "kez.chat.visual.v1";
/// Domain (HKDF info and AAD prefix) of a key wrap, apart from messages'.
pub const WRAP_CONTEXT: &str = "kez.chat.visual-key.v1";
/// What precedes the 32 hex of the salt in a scrambled picture's URL.
pub const FRAGMENT_PREFIX: &str = "#kez-visual-v1:";

/// xoshiro256** (SPEC §14.2). Not for secrets: it only has to be the same
/// sequence in every client.
#[derive(Debug, Clone)]
pub struct Xoshiro256StarStar {
    s: [u64; 4],
}

impl Xoshiro256StarStar {
    /// The state as four u64 read little-endian from `seed`; an all-zero
    /// state (a fixed point of the generator) becomes `s[0] = 1`.
    #[must_use]
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut s = [0u64; 4];
        for (word, bytes) in s.iter_mut().zip(seed.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            *word = u64::from_le_bytes(b);
        }
        Self::from_state(s)
    }

    /// A generator at state `s` (all-zero → `s[0] = 1`, as [`Self::from_seed`]).
    #[must_use]
    pub fn from_state(mut s: [u64; 4]) -> Self {
        if s == [0; 4] {
            s[0] = 1;
        }
        Self { s }
    }

    /// The next output of the reference `next()`.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `0..=max` by rejection: draws again while
    /// `r ≥ 2^64 − (2^64 mod (max+1))`, then `r mod (max+1)`.
    pub fn uniform(&mut self, max: u64) -> u64 {
        let bound = u128::from(max) + 1;
        let limit = (1u128 << 64) - (1u128 << 64) % bound;
        loop {
            let r = u128::from(self.next_u64());
            if r < limit {
                return u64::try_from(r % bound).unwrap_or_else(|_| unreachable!("r < bound"));
            }
        }
    }
}

/// The PRNG seed of a picture: HKDF-SHA256(ikm = key, salt, info = [`SEED_INFO`], 32 bytes).
#[must_use]
pub fn prng_seed(key: &[u8; 32], salt: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(Some(salt), key)
        .expand(SEED_INFO.as_bytes(), &mut out)
        .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 length"));
    out
}

/// The permutation `P` of `n` pixel indices (SPEC §14.2): identity, then
/// for `i = n−1` down to 1 swap `P[i]` with `P[uniform(0..=i)]`.
#[must_use]
pub fn permutation(n: usize, key: &[u8; 32], salt: &[u8; 16]) -> Vec<usize> {
    let mut rng = Xoshiro256StarStar::from_seed(prng_seed(key, salt));
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.uniform(i as u64);
        p.swap(
            i,
            usize::try_from(j).unwrap_or_else(|_| unreachable!("j ≤ i")),
        );
    }
    p
}

/// Scrambles packed RGB pixels: `out[k] = in[P[k]]`. `None` if the length
/// is not a whole number of pixels.
#[must_use]
pub fn scramble(rgb: &[u8], key: &[u8; 32], salt: &[u8; 16]) -> Option<Vec<u8>> {
    let p = pixel_permutation(rgb, key, salt)?;
    let mut out = Vec::with_capacity(rgb.len());
    for &src in &p {
        out.extend_from_slice(&rgb[src * 3..src * 3 + 3]);
    }
    Some(out)
}

/// Inverts [`scramble`]: `in[P[k]] = out[k]`.
#[must_use]
pub fn unscramble(rgb: &[u8], key: &[u8; 32], salt: &[u8; 16]) -> Option<Vec<u8>> {
    let p = pixel_permutation(rgb, key, salt)?;
    let mut out = vec![0u8; rgb.len()];
    for (k, &dst) in p.iter().enumerate() {
        out[dst * 3..dst * 3 + 3].copy_from_slice(&rgb[k * 3..k * 3 + 3]);
    }
    Some(out)
}

fn pixel_permutation(rgb: &[u8], key: &[u8; 32], salt: &[u8; 16]) -> Option<Vec<usize>> {
    rgb.len()
        .is_multiple_of(3)
        .then(|| permutation(rgb.len() / 3, key, salt))
}

/// The URL fragment naming a picture's salt: `#kez-visual-v1:<32 hex>`.
#[must_use]
pub fn fragment(salt: &[u8; 16]) -> String {
    format!("{FRAGMENT_PREFIX}{}", hex::encode(salt))
}

/// One wrap of a picture key (SPEC §14.3); it names no recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wrap {
    /// Ephemeral X25519 public key, 64 hex.
    pub epk: String,
    /// AES-GCM nonce, 24 hex.
    pub nonce: String,
    /// b64url of the 32-byte key's ciphertext and 16-byte tag (64 chars).
    pub ct: String,
}

/// Wraps `key` for `recipient` with a fresh ephemeral secret and nonce.
#[must_use]
pub fn wrap_key(key: &[u8; 32], recipient: &Identity) -> Wrap {
    let mut eph = [0u8; 32];
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut eph).expect("the OS random number generator is unavailable");
    getrandom::fill(&mut nonce).expect("the OS random number generator is unavailable");
    wrap_key_with(key, recipient, eph, nonce).expect("a random ephemeral key is contributory")
}

/// Deterministic wrap for vectors: SPEC §8 steps 1–7 under [`WRAP_CONTEXT`].
pub fn wrap_key_with(
    key: &[u8; 32],
    recipient: &Identity,
    ephemeral_secret: [u8; 32],
    nonce: [u8; 12],
) -> Result<Wrap, OpenError> {
    let (epk, ct) = seal_bytes(WRAP_CONTEXT, key, recipient, ephemeral_secret, nonce)?;
    Ok(Wrap {
        epk: hex::encode(epk),
        nonce: hex::encode(nonce),
        ct: URL_SAFE_NO_PAD.encode(ct),
    })
}

/// The key inside `wrap` if it was made for the holder of `seed`.
#[must_use]
pub fn unwrap_key(wrap: &Wrap, seed: &[u8; 32]) -> Option<[u8; 32]> {
    let epk = parse_lower_hex::<32>(&wrap.epk)?;
    let nonce = parse_lower_hex::<12>(&wrap.nonce)?;
    let ct = super::file::decode_b64url(&wrap.ct)?;
    let plain = open_bytes(WRAP_CONTEXT, epk, nonce, &ct, seed).ok()?;
    plain.try_into().ok()
}

/// Tries every wrap (they carry no recipient) and returns the first key
/// that opens for the holder of `seed`.
#[must_use]
pub fn unwrap_any(wraps: &[Wrap], seed: &[u8; 32]) -> Option<[u8; 32]> {
    wraps.iter().find_map(|w| unwrap_key(w, seed))
}

#[cfg(test)]
mod tests;
