//! The key ring itself: its JSON form, the tags it makes, and which keys
//! a rotation keeps (SPEC §7.5). Pure: no file or clock access here.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::store::SenderTags;

/// Seconds in one epoch: an epoch is a unix day (`secs / 86400`).
pub const EPOCH_SECS: i64 = 86_400;
/// The only ring file format this binary reads and writes (`"v": 1`).
const VERSION: u32 = 1;
/// Bytes of each key.
const KEY_BYTES: usize = 32;
/// Bytes of the HMAC kept in a tag (printed as 12 hex digits after `h:`).
const TAG_BYTES: usize = 6;

/// The epoch (unix day) of `secs` (unix seconds).
pub fn epoch_of(secs: i64) -> i64 {
    secs.div_euclid(EPOCH_SECS)
}

/// A malformed ring file: not JSON, another version, a key that is not 32
/// bytes of base64url, or one epoch twice.
#[derive(Debug, thiserror::Error)]
#[error("malformed sender key ring: {0}")]
pub struct Malformed(String);

/// The sender keys, one per epoch, oldest first. The current epoch's key
/// makes the tags stored with new messages; the others only count what
/// their sender holds.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    keys: BTreeMap<i64, [u8; KEY_BYTES]>,
}

impl std::fmt::Debug for KeyRing {
    // Never print the keys themselves.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("epochs", &self.epochs())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct RingFile {
    v: u32,
    keys: Vec<KeyEntry>,
}

#[derive(Serialize, Deserialize)]
struct KeyEntry {
    epoch: i64,
    /// base64url, no padding, of the 32 key bytes.
    key: String,
}

impl KeyRing {
    /// Parses the file's JSON: `{"v":1,"keys":[{"epoch":<unix day>,"key":"<base64url 32 bytes>"}]}`.
    /// Errors: [`Malformed`].
    pub fn parse(json: &[u8]) -> Result<Self, Malformed> {
        let file: RingFile = serde_json::from_slice(json)
            .map_err(|e| Malformed(format!("not the ring's JSON: {e}")))?;
        if file.v != VERSION {
            return Err(Malformed(format!(
                "version {} (this binary reads 1)",
                file.v
            )));
        }
        let mut keys = BTreeMap::new();
        for entry in file.keys {
            let key = URL_SAFE_NO_PAD
                .decode(entry.key.as_bytes())
                .ok()
                .and_then(|k| <[u8; KEY_BYTES]>::try_from(k.as_slice()).ok())
                .ok_or_else(|| {
                    Malformed(format!(
                        "the key of epoch {} is not 32 bytes of base64url",
                        entry.epoch
                    ))
                })?;
            if keys.insert(entry.epoch, key).is_some() {
                return Err(Malformed(format!("epoch {} appears twice", entry.epoch)));
            }
        }
        Ok(Self { keys })
    }

    /// The file's JSON (the shape [`KeyRing::parse`] reads), oldest key first.
    pub fn to_json(&self) -> Vec<u8> {
        let file = RingFile {
            v: VERSION,
            keys: self
                .keys
                .iter()
                .map(|(&epoch, key)| KeyEntry {
                    epoch,
                    key: URL_SAFE_NO_PAD.encode(key),
                })
                .collect(),
        };
        serde_json::to_vec(&file).expect("a ring always serializes")
    }

    /// The epochs held, oldest first.
    pub fn epochs(&self) -> Vec<i64> {
        self.keys.keys().copied().collect()
    }

    /// The tags of `network` (`rate_limit::network_key(ip).to_string()`)
    /// at `now` (unix seconds): `h:` + hex of the first 6 bytes of
    /// HMAC-SHA256(key, network). `current` (the one to store) is made with
    /// the key of the current epoch, or the newest one not after it (the
    /// oldest if all are later: a clock behind another instance's);
    /// `older` holds the tags under every other key, newest first, to count.
    /// A later key than the current epoch's is never used to store, so a
    /// clock that ran ahead does not keep tagging with one key for days.
    /// An empty ring gives an empty tag, which is never counted.
    pub fn tags(&self, network: &str, now: i64) -> SenderTags {
        let current = epoch_of(now);
        let storing = self
            .keys
            .range(..=current)
            .next_back()
            .or_else(|| self.keys.iter().next())
            .map(|(&e, _)| e);
        let Some(storing) = storing else {
            return SenderTags::default();
        };
        SenderTags {
            current: tag(&self.keys[&storing], network),
            older: self
                .keys
                .iter()
                .rev()
                .filter(|&(&e, _)| e != storing)
                .map(|(_, key)| tag(key, network))
                .collect(),
        }
    }

    /// The ring a rotation at `now` (unix seconds) leaves, or `None` when
    /// nothing changes; see [`KeyRing::rotation`].
    pub fn rotated(&self, now: i64, retention_secs: u64) -> Option<Self> {
        let rotation = self.rotation(now, retention_secs);
        (rotation.ring != *self).then_some(rotation.ring)
    }

    /// A rotation at `now` (unix seconds) under a retention of
    /// `retention_secs` (SPEC §7.5), in this order:
    /// 1. keys of an epoch more than 1 ahead of the current one are dropped
    ///    (a clock that was ahead made them; [`Rotation::ahead`]);
    /// 2. a fresh random key is added for the current epoch if it has none,
    ///    even when a later key exists;
    /// 3. a key of epoch `e` is dropped once the next key in the ring, of
    ///    epoch `n`, took over before the oldest live message:
    ///    `n × 86400 ≤ now − retention_secs`. Key `e` stored tags only until
    ///    `n` began, so none of its messages can still be live. Day by day
    ///    `n = e + 1`; after a clock jump of days, `n` is the day jumped to,
    ///    so the key used just before the jump stays a full retention.
    ///    The newest key is never dropped here.
    pub fn rotation(&self, now: i64, retention_secs: u64) -> Rotation {
        let current = epoch_of(now);
        let oldest_live = now.saturating_sub(i64::try_from(retention_secs).unwrap_or(i64::MAX));
        let mut keys = self.keys.clone();
        let ahead: Vec<i64> = keys
            .range(current.saturating_add(2)..)
            .map(|(&e, _)| e)
            .collect();
        for e in &ahead {
            keys.remove(e);
        }
        keys.entry(current).or_insert_with(fresh_key);
        let epochs: Vec<i64> = keys.keys().copied().collect();
        let expired: Vec<i64> = epochs
            .windows(2)
            .filter(|w| w[1].saturating_mul(EPOCH_SECS) <= oldest_live)
            .map(|w| w[0])
            .collect();
        for e in &expired {
            keys.remove(e);
        }
        Rotation {
            ring: Self { keys },
            ahead,
            expired,
        }
    }

    /// The epochs whose keys in `self` are still live at `now` (a rotation
    /// would keep them) but which `other` lacks or holds with another key:
    /// the tags of messages stored under them stop counting if `other`
    /// replaces `self`.
    pub fn live_keys_lost_in(&self, other: &Self, now: i64, retention_secs: u64) -> Vec<i64> {
        let kept = self.rotation(now, retention_secs).ring;
        self.keys
            .iter()
            .filter(|&(e, key)| kept.keys.contains_key(e) && other.keys.get(e) != Some(key))
            .map(|(&e, _)| e)
            .collect()
    }
}

/// What [`KeyRing::rotation`] did.
#[derive(Debug)]
pub struct Rotation {
    /// The ring after it (equal to the one before when nothing changed).
    pub ring: KeyRing,
    /// Epochs dropped for being more than 1 epoch ahead of the current one.
    pub ahead: Vec<i64>,
    /// Epochs dropped because no message stored under them can be live.
    pub expired: Vec<i64>,
}

/// A tag under one key (see [`KeyRing::tags`]).
fn tag(key: &[u8; KEY_BYTES], network: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(network.as_bytes());
    let digest = mac.finalize().into_bytes();
    format!("h:{}", hex::encode(&digest[..TAG_BYTES]))
}

fn fresh_key() -> [u8; KEY_BYTES] {
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key).expect("the OS random number generator is unavailable");
    key
}
