//! The checks an event passes before it may cause a push (SPEC §12), in
//! the SPEC's order: kind, route, freshness, id, signature; then the addr
//! lookup, the envelope's outer shape and first sight.

use std::collections::{HashMap, HashSet, VecDeque};

use nostr::{Event, EventId, SingleLetterTag};

use crate::kez::Handle;
use crate::kez::nostr::{KIND_MESSAGE, Reject, check_freshness, is_addr};

/// Event ids remembered by [`Dedupe`] (the SPEC asks for at least 10,000).
pub const SEEN_CAPACITY: usize = 16_384;

/// Why an event makes no push; each reason has its own counter. The first
/// six are SPEC §12's shared codes ([`Self::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `wrong_kind`: not a message event (kind 4243; acks never push).
    WrongKind,
    /// `bad_route`: no `q` tag, or the first one's value is not 64 lowercase hex.
    BadRoute,
    /// `future`: `created_at` more than 5 min ahead.
    Future,
    /// `stale`: `created_at` more than 48 h old.
    Stale,
    /// `bad_id`: the id is not the NIP-01 hash of the event.
    BadId,
    /// `bad_signature`: the signature does not verify.
    BadSignature,
    /// The first `q` value is not the addr of a registered handle (ignored).
    UnknownAddr,
    /// `content` is not an envelope v2 object (§8 outer shape).
    NotEnvelope,
    /// Already accepted.
    Duplicate,
}

impl Refusal {
    /// The metric's name part: SPEC §12's code, or `unknown_addr`,
    /// `not_envelope`, `duplicate`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::WrongKind => Reject::WrongKind.code(),
            Self::BadRoute => Reject::BadRoute.code(),
            Self::Future => Reject::Future.code(),
            Self::Stale => Reject::Stale.code(),
            Self::BadId => Reject::BadId.code(),
            Self::BadSignature => Reject::BadSignature.code(),
            Self::UnknownAddr => "unknown_addr",
            Self::NotEnvelope => "not_envelope",
            Self::Duplicate => "duplicate",
        }
    }
}

impl From<Reject> for Refusal {
    fn from(r: Reject) -> Self {
        match r {
            Reject::WrongKind => Self::WrongKind,
            Reject::BadRoute => Self::BadRoute,
            Reject::Future => Self::Future,
            Reject::Stale => Self::Stale,
            Reject::BadId => Self::BadId,
            Reject::BadSignature => Self::BadSignature,
        }
    }
}

/// The ids of the last [`SEEN_CAPACITY`] accepted events, oldest forgotten first.
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
/// registered handle's addr to it; `now` is Unix seconds. Cheap checks run
/// first, the signature last of the SPEC's; the id is remembered only once
/// every other check passed, so a forged copy cannot shadow the real event.
///
/// # Errors
/// The first [`Refusal`] that applies.
pub fn check_event(
    event: &Event,
    addrs: &HashMap<String, Handle>,
    now: i64,
    seen: &mut Dedupe,
) -> Result<Handle, Refusal> {
    if event.kind.as_u16() != KIND_MESSAGE {
        return Err(Refusal::WrongKind);
    }
    let route = first_q(event)
        .filter(|v| is_addr(v))
        .ok_or(Refusal::BadRoute)?;
    let created_at = i64::try_from(event.created_at.as_secs()).unwrap_or(i64::MAX);
    check_freshness(created_at, now).map_err(Refusal::from)?;
    if !event.verify_id() {
        return Err(Refusal::BadId);
    }
    if !event.verify_signature() {
        return Err(Refusal::BadSignature);
    }
    let handle = addrs.get(route).ok_or(Refusal::UnknownAddr)?;
    if !is_envelope_shape(&event.content) {
        return Err(Refusal::NotEnvelope);
    }
    if !seen.insert(event.id) {
        return Err(Refusal::Duplicate);
    }
    Ok(handle.clone())
}

/// The value of the event's first `q` tag: the one SPEC §12 routes on (a
/// later `q` never counts, as in the clients).
fn first_q(event: &Event) -> Option<&str> {
    let q = SingleLetterTag::lowercase(nostr::Alphabet::Q);
    event
        .tags
        .iter()
        .find(|t| t.single_letter_tag() == Some(q))
        .and_then(|t| t.content())
}

/// Whether `content` is an envelope v2 object by its outer shape (§8):
/// exactly `v` = 2, `epk` (64 lowercase hex), `nonce` (24 lowercase hex)
/// and `ct` (non-empty base64url, no padding). The listener cannot open it;
/// this only stops arbitrary text from causing pushes.
#[must_use]
pub fn is_envelope_shape(content: &str) -> bool {
    let Ok(serde_json::Value::Object(o)) = serde_json::from_str(content) else {
        return false;
    };
    let hex = |k: &str, n: usize| {
        o.get(k).and_then(|v| v.as_str()).is_some_and(|s| {
            s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
    };
    let ct = o.get("ct").and_then(|v| v.as_str()).is_some_and(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    o.len() == 4
        && o.get("v").and_then(serde_json::Value::as_u64) == Some(2)
        && hex("epk", 64)
        && hex("nonce", 24)
        && ct
}

#[cfg(test)]
mod tests {
    use nostr::{EventBuilder, Keys, Kind, Tag, TagKind, Timestamp};

    use super::*;

    const ENVELOPE: &str = "{\"ct\":\"AAAA\",\"epk\":\"00000000000000000000000000000000\
        00000000000000000000000000000000\",\"nonce\":\"000000000000000000000000\",\"v\":2}";

    fn event_with(kind: u16, qs: &[&str], created_at: u64, content: &str) -> Event {
        let q = SingleLetterTag::lowercase(nostr::Alphabet::Q);
        EventBuilder::new(Kind::from(kind), content)
            .tags(
                qs.iter()
                    .map(|v| Tag::custom(TagKind::SingleLetter(q), [*v])),
            )
            .custom_created_at(Timestamp::from(created_at))
            .sign_with_keys(&Keys::generate())
            .unwrap()
    }

    fn event(kind: u16, addr: &str, created_at: u64) -> Event {
        event_with(kind, &[addr], created_at, ENVELOPE)
    }

    #[test]
    fn accepts_once_and_refuses_by_reason() {
        let alice = Handle::parse("alice").unwrap();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let addrs = HashMap::from([(a.clone(), alice.clone())]);
        let now = 1_800_000_000_i64;
        let t = u64::try_from(now).unwrap();
        let mut seen = Dedupe::default();
        let ok = event(4243, &a, t);
        assert_eq!(check_event(&ok, &addrs, now, &mut seen), Ok(alice));
        assert_eq!(
            check_event(&ok, &addrs, now, &mut seen),
            Err(Refusal::Duplicate)
        );
        let mut bad_id = event(4243, &a, t);
        bad_id.content = ENVELOPE.replace("AAAA", "AAAB");
        let mut bad_sig = event(4243, &a, t);
        bad_sig.sig = event(4243, &a, t).sig;
        let cases = [
            (event(4244, &a, t), Refusal::WrongKind),
            (event_with(4243, &[], t, ENVELOPE), Refusal::BadRoute),
            (event(4243, &"A".repeat(64), t), Refusal::BadRoute),
            (event(4243, &b, t), Refusal::UnknownAddr),
            // Only the first `q` routes: a served addr second does not count.
            (
                event_with(4243, &[&b, &a], t, ENVELOPE),
                Refusal::UnknownAddr,
            ),
            (event_with(4243, &["x", &a], t, ENVELOPE), Refusal::BadRoute),
            (event(4243, &a, t + 301), Refusal::Future),
            (event(4243, &a, t - 172_801), Refusal::Stale),
            (bad_id, Refusal::BadId),
            (bad_sig, Refusal::BadSignature),
            (
                event_with(4243, &[&a], t, "{\"v\":2}"),
                Refusal::NotEnvelope,
            ),
        ];
        for (ev, why) in cases {
            assert_eq!(
                check_event(&ev, &addrs, now, &mut seen),
                Err(why),
                "{why:?}"
            );
        }
    }

    #[test]
    fn the_envelope_shape_is_exact() {
        assert!(is_envelope_shape(ENVELOPE));
        for bad in [
            "",
            "[]",
            "{\"v\":2}",
            &ENVELOPE.replace("\"v\":2", "\"v\":3"),
            &ENVELOPE.replace("AAAA", "AA=="),
            &ENVELOPE.replace("AAAA", ""),
            &ENVELOPE.replace("\"nonce\":\"0", "\"nonce\":\"X"),
            &ENVELOPE.replace("\"v\":2}", "\"v\":2,\"x\":1}"),
        ] {
            assert!(!is_envelope_shape(bad), "{bad}");
        }
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
