//! The checks an event passes before it may cause a push (SPEC §12):
//! signature, kind, routing, freshness, then first sight.

use std::collections::{HashMap, HashSet, VecDeque};

use nostr::{Event, EventId, SingleLetterTag};

use crate::kez::Handle;
use crate::kez::nostr::{KIND_MESSAGE, is_fresh};

/// Event ids remembered by [`Dedupe`] (the SPEC asks for at least 10,000).
pub const SEEN_CAPACITY: usize = 16_384;

/// Why an event makes no push; each reason has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The id is not the hash of the event or the signature does not verify.
    Signature,
    /// Not a message event (kind 4243).
    Kind,
    /// No `q` tag value is the addr of a registered handle.
    UnknownAddr,
    /// `created_at` more than 5 min ahead or more than 48 h old.
    Stale,
    /// Already pushed.
    Duplicate,
}

/// The ids of the last [`SEEN_CAPACITY`] pushed events, oldest forgotten first.
#[derive(Debug, Default)]
pub struct Dedupe {
    set: HashSet<EventId>,
    order: VecDeque<EventId>,
}

impl Dedupe {
    /// Records `id`; `false` if it was already there.
    pub fn insert(&mut self, id: EventId) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > SEEN_CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

/// The handle `event` should wake, or why none. `addrs` maps each
/// registered handle's addr to it; `now` is Unix seconds. The id is
/// remembered only once every other check passed, so a forged copy cannot
/// shadow the real event.
pub fn check_event(
    event: &Event,
    addrs: &HashMap<String, Handle>,
    now: i64,
    seen: &mut Dedupe,
) -> Result<Handle, Refusal> {
    if event.verify().is_err() {
        return Err(Refusal::Signature);
    }
    if event.kind.as_u16() != KIND_MESSAGE {
        return Err(Refusal::Kind);
    }
    let q = SingleLetterTag::lowercase(nostr::Alphabet::Q);
    let handle = event
        .tags
        .iter()
        .filter(|t| t.single_letter_tag() == Some(q))
        .filter_map(|t| t.content())
        .find_map(|v| addrs.get(v))
        .ok_or(Refusal::UnknownAddr)?;
    let created_at = i64::try_from(event.created_at.as_secs()).unwrap_or(i64::MAX);
    if !is_fresh(created_at, now) {
        return Err(Refusal::Stale);
    }
    if !seen.insert(event.id) {
        return Err(Refusal::Duplicate);
    }
    Ok(handle.clone())
}

#[cfg(test)]
mod tests {
    use nostr::{EventBuilder, Keys, Kind, Tag, TagKind, Timestamp};

    use super::*;

    fn event(kind: u16, addr: &str, created_at: u64) -> Event {
        let q = SingleLetterTag::lowercase(nostr::Alphabet::Q);
        EventBuilder::new(Kind::from(kind), "{}")
            .tag(Tag::custom(TagKind::SingleLetter(q), [addr]))
            .custom_created_at(Timestamp::from(created_at))
            .sign_with_keys(&Keys::generate())
            .unwrap()
    }

    #[test]
    fn accepts_once_and_refuses_by_reason() {
        let alice = Handle::parse("alice").unwrap();
        let addrs = HashMap::from([("a".repeat(64), alice.clone())]);
        let now = 1_800_000_000_i64;
        let t = u64::try_from(now).unwrap();
        let mut seen = Dedupe::default();
        let ok = event(4243, &"a".repeat(64), t);
        assert_eq!(check_event(&ok, &addrs, now, &mut seen), Ok(alice));
        assert_eq!(
            check_event(&ok, &addrs, now, &mut seen),
            Err(Refusal::Duplicate)
        );
        let cases = [
            (event(4244, &"a".repeat(64), t), Refusal::Kind),
            (event(4243, &"b".repeat(64), t), Refusal::UnknownAddr),
            (event(4243, &"a".repeat(64), t + 301), Refusal::Stale),
            (event(4243, &"a".repeat(64), t - 172_801), Refusal::Stale),
        ];
        for (ev, why) in cases {
            assert_eq!(check_event(&ev, &addrs, now, &mut seen), Err(why));
        }
        let mut forged = event(4243, &"a".repeat(64), t);
        forged.content = "{\"x\":1}".to_owned();
        assert_eq!(
            check_event(&forged, &addrs, now, &mut seen),
            Err(Refusal::Signature)
        );
    }

    #[test]
    fn dedupe_is_bounded() {
        let mut seen = Dedupe::default();
        let ids: Vec<EventId> = (0..=SEEN_CAPACITY)
            .map(|i| EventId::from_byte_array(sha_of(i)))
            .collect();
        for id in &ids {
            assert!(seen.insert(*id));
        }
        assert_eq!(seen.set.len(), SEEN_CAPACITY);
        assert!(seen.insert(ids[0]), "the oldest id was forgotten");
        assert!(!seen.insert(ids[SEEN_CAPACITY]));
    }

    fn sha_of(i: usize) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(i.to_le_bytes()).into()
    }
}
