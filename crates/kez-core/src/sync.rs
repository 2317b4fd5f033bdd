//! Settings that follow the identity (SPEC §8.7): the body of a sealed
//! `sync` message, a full snapshot of the identity's block and mute lists
//! that a device posts to itself so its other devices apply them.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Identity, json};

/// The `type` tag of a `sync` body.
pub const SYNC_TYPE: &str = "kez-sync-v1";
/// Most primaries in each list of a snapshot.
pub const MAX_SYNC_LIST: usize = 1000;

/// A checked snapshot: both lists sorted ascending, no repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSnapshot {
    /// The primaries the identity blocked.
    pub blocked: Vec<String>,
    /// The primaries whose conversations are muted.
    pub muted: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBody {
    #[serde(rename = "type")]
    tag: String,
    blocked: Vec<String>,
    muted: Vec<String>,
}

/// The exact body of a snapshot of `blocked` and `muted` (sorted and
/// deduplicated here; the caller keeps each at most [`MAX_SYNC_LIST`]).
#[must_use]
pub fn sync_body(blocked: &[&str], muted: &[&str]) -> String {
    fn norm<'a>(l: &[&'a str]) -> Vec<&'a str> {
        let mut v = l.to_vec();
        v.sort_unstable();
        v.dedup();
        v
    }
    let body = json!({"type": SYNC_TYPE, "blocked": norm(blocked), "muted": norm(muted)});
    String::from_utf8(json::canonical_bytes(&body)).expect("JCS is UTF-8")
}

/// The snapshot a `sync` body holds, or `None` (`malformed_message`): the
/// exact JCS of `{"blocked","muted","type"}`, each list at most
/// [`MAX_SYNC_LIST`] canonical primaries (SPEC §1), strictly ascending.
#[must_use]
pub fn parse_body(body: &str) -> Option<SyncSnapshot> {
    let value: Value = json::parse_strict(body.as_bytes()).ok()?;
    if json::canonical_bytes(&value) != body.as_bytes() {
        return None;
    }
    let raw: RawBody = serde_json::from_value(value).ok()?;
    let list_ok = |l: &[String]| {
        l.len() <= MAX_SYNC_LIST
            && l.windows(2).all(|w| w[0] < w[1])
            && l.iter()
                .all(|p| Identity::parse(p).is_ok_and(|i| i.to_string() == *p))
    };
    (raw.tag == SYNC_TYPE && list_ok(&raw.blocked) && list_ok(&raw.muted)).then_some(SyncSnapshot {
        blocked: raw.blocked,
        muted: raw.muted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primary(byte: u8) -> String {
        let vk = ed25519_dalek::SigningKey::from_bytes(&[byte; 32]).verifying_key();
        Identity::from_bytes(vk.as_bytes()).unwrap().to_string()
    }

    #[test]
    fn body_is_sorted_jcs_and_parses_back() {
        let (a, b) = (primary(1), primary(2));
        let (lo, hi) = if a < b {
            (a.as_str(), b.as_str())
        } else {
            (b.as_str(), a.as_str())
        };
        let body = sync_body(&[hi, lo, hi], &[]);
        assert_eq!(
            body,
            format!(r#"{{"blocked":["{lo}","{hi}"],"muted":[],"type":"kez-sync-v1"}}"#)
        );
        let snap = parse_body(&body).unwrap();
        assert_eq!(snap.blocked, vec![lo, hi]);
        assert!(snap.muted.is_empty());
    }

    #[test]
    fn bad_bodies_are_refused() {
        let (a, b) = (primary(1), primary(2));
        let (lo, hi) = if a < b {
            (a.as_str(), b.as_str())
        } else {
            (b.as_str(), a.as_str())
        };
        for bad in [
            format!(r#"{{"blocked":["{hi}","{lo}"],"muted":[],"type":"kez-sync-v1"}}"#),
            format!(r#"{{"blocked":["{lo}","{lo}"],"muted":[],"type":"kez-sync-v1"}}"#),
            r#"{"blocked":["ed25519:zz"],"muted":[],"type":"kez-sync-v1"}"#.to_owned(),
            r#"{"blocked":[],"type":"kez-sync-v1"}"#.to_owned(),
            r#"{"blocked":[],"muted":[],"type":"kez-sync-v2"}"#.to_owned(),
            r#"{"type":"kez-sync-v1","blocked":[],"muted":[]}"#.to_owned(),
            r#"{"blocked":[],"muted":[],"type":"kez-sync-v1","x":1}"#.to_owned(),
            String::new(),
        ] {
            assert_eq!(parse_body(&bad), None, "{bad}");
        }
    }
}
