//! Chat over nostr (SPEC §12): the event kinds, the routing address of a
//! primary, freshness of `created_at`, and the NIP-01 event id. Pure and
//! small enough for the server's listener; deriving the nostr key from a
//! seed and signing events are client-side and live in [`keys`] behind the
//! `nostr-keys` feature.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::identity::Identity;

#[cfg(feature = "nostr-keys")]
pub mod keys;

/// Event kind of a sealed message that may notify (`text`, `file`): the
/// server's listener pushes for it. NIP-01 regular event, SPEC §12.
pub const KIND_MESSAGE: u16 = 4243;
/// Event kind of a silent sealed message (`ack`, `chunk`, `need`): never
/// pushes, like `notify: false` on the server (SPEC §12, §13). NIP-01
/// regular event.
pub const KIND_SILENT: u16 = 4244;
/// Acks travel as [`KIND_SILENT`]; the name kept for callers that mean one.
pub const KIND_ACK: u16 = KIND_SILENT;
/// Events dated more than this many seconds ahead of now are refused.
pub const MAX_FUTURE_SECS: i64 = 300;
/// Events dated more than this many seconds before now are refused (48 h,
/// the server's retention); also the NIP-40 `expiration` offset.
pub const LOOKBACK_SECS: i64 = 172_800;
/// Receivers remember at least this many seen event ids (bounded), SPEC §12.
pub const MIN_SEEN_EVENT_IDS: usize = 10_000;
/// Domain-separation prefix of [`addr`]; the primary follows it directly.
pub const ADDR_LABEL: &str = "kez.chat.nostr.addr.v1\n";

/// The routing address of a primary (SPEC §12): 64 lowercase hex chars of
/// `SHA-256(UTF-8("kez.chat.nostr.addr.v1\n" + "ed25519:<hex>"))`, used as
/// the value of an event's `q` tag.
///
/// It keeps handles and servers out of relays, but it is a hash of a public
/// key, not a secret: whoever knows a primary computes its addr.
#[must_use]
pub fn addr(primary: &Identity) -> String {
    addr_of_str(&primary.to_string())
}

/// [`addr`] of a primary given as its string form `ed25519:<64 hex>`; the
/// string is hashed as is (callers parse it first when it is untrusted).
#[must_use]
pub fn addr_of_str(primary: &str) -> String {
    let mut h = Sha256::new();
    h.update(ADDR_LABEL.as_bytes());
    h.update(primary.as_bytes());
    hex::encode(h.finalize())
}

/// Whether an event's `created_at` (unix seconds) is acceptable at `now`
/// (unix seconds): at most [`MAX_FUTURE_SECS`] ahead and at most
/// [`LOOKBACK_SECS`] behind, both bounds inclusive. Overflow-safe.
#[must_use]
pub fn is_fresh(created_at: i64, now: i64) -> bool {
    let ahead = i128::from(created_at) - i128::from(now);
    ahead <= i128::from(MAX_FUTURE_SECS) && -ahead <= i128::from(LOOKBACK_SECS)
}

/// Whether `s` can be an addr: 64 lowercase hex (SPEC §12 `bad_route` else).
#[must_use]
pub fn is_addr(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// [`is_fresh`] with the shared code of a refusal: [`Reject::Future`] when
/// more than [`MAX_FUTURE_SECS`] ahead, [`Reject::Stale`] when more than
/// [`LOOKBACK_SECS`] behind (SPEC §12 order: future first).
///
/// # Errors
/// `Future` or `Stale`.
pub fn check_freshness(created_at: i64, now: i64) -> Result<(), Reject> {
    if i128::from(created_at) - i128::from(now) > i128::from(MAX_FUTURE_SECS) {
        return Err(Reject::Future);
    }
    if !is_fresh(created_at, now) {
        return Err(Reject::Stale);
    }
    Ok(())
}

/// The tags of a kind 4243 or 4244 event (SPEC §12), in this order:
/// `[["q", <addr>], ["expiration", "<created_at + 172800>"]]` (NIP-40,
/// decimal unix seconds).
#[must_use]
pub fn tags(addr: &str, created_at: i64) -> Vec<Vec<String>> {
    vec![
        vec!["q".to_owned(), addr.to_owned()],
        vec![
            "expiration".to_owned(),
            created_at.saturating_add(LOOKBACK_SECS).to_string(),
        ],
    ]
}

/// A signed nostr event as NIP-01 puts it on the wire: `id` and `pubkey`
/// are 64 hex, `sig` 128 hex (BIP-340), `created_at` unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// [`event_id`] of the other fields, 64 hex.
    pub id: String,
    /// BIP-340 x-only public key of the (one-time) signer, 64 hex.
    pub pubkey: String,
    /// Unix seconds.
    pub created_at: i64,
    /// [`KIND_MESSAGE`] or [`KIND_SILENT`] for KEZ events.
    pub kind: u16,
    /// See [`tags`].
    pub tags: Vec<Vec<String>>,
    /// The JCS text of an envelope v2 object (SPEC §8).
    pub content: String,
    /// BIP-340 signature over the 32 id bytes, 128 hex.
    pub sig: String,
}

/// The NIP-01 serialisation `[0,<pubkey>,<created_at>,<kind>,<tags>,<content>]`
/// (UTF-8 JSON without whitespace, JSON.stringify escaping) that [`event_id`]
/// hashes.
#[must_use]
pub fn serialize_for_id(
    pubkey: &str,
    created_at: i64,
    kind: u16,
    tags: &[Vec<String>],
    content: &str,
) -> String {
    json!([0, pubkey, created_at, kind, tags, content]).to_string()
}

/// The NIP-01 event id: SHA-256 of [`serialize_for_id`], 32 bytes.
#[must_use]
pub fn event_id(
    pubkey: &str,
    created_at: i64,
    kind: u16,
    tags: &[Vec<String>],
    content: &str,
) -> [u8; 32] {
    Sha256::digest(serialize_for_id(pubkey, created_at, kind, tags, content).as_bytes()).into()
}

impl Event {
    /// Whether `id` is the [`event_id`] of the other fields (the signature
    /// is checked by [`keys::verify`] or by the caller's nostr library).
    #[must_use]
    pub fn id_matches(&self) -> bool {
        let id = event_id(
            &self.pubkey,
            self.created_at,
            self.kind,
            &self.tags,
            &self.content,
        );
        self.id == hex::encode(id)
    }

    /// The value of the first `q` tag, if any.
    #[must_use]
    pub fn q(&self) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.first().is_some_and(|k| k == "q"))
            .and_then(|t| t.get(1))
            .map(String::as_str)
    }
}

/// Why a KEZ event was refused (SPEC §12); checks run in this order and
/// the codes are shared with the web client and the server's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// `kind` is neither [`KIND_MESSAGE`] nor [`KIND_SILENT`].
    WrongKind,
    /// No `q` tag, or its value is not 64 lowercase hex.
    BadRoute,
    /// `created_at` more than [`MAX_FUTURE_SECS`] ahead of now.
    Future,
    /// `created_at` more than [`LOOKBACK_SECS`] before now.
    Stale,
    /// `id` is not the NIP-01 hash of the event.
    BadId,
    /// `sig` is not a valid BIP-340 signature by `pubkey` over `id`.
    BadSignature,
}

impl Reject {
    /// The shared code: `wrong_kind`, `bad_route`, `future`, `stale`,
    /// `bad_id` or `bad_signature`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::WrongKind => "wrong_kind",
            Self::BadRoute => "bad_route",
            Self::Future => "future",
            Self::Stale => "stale",
            Self::BadId => "bad_id",
            Self::BadSignature => "bad_signature",
        }
    }
}

/// The checks of SPEC §12 that need no secp256k1: kind, `q` route,
/// freshness at `now` (unix seconds) and the id, in the shared order.
/// Returns the routing addr. The caller still verifies the signature
/// (`keys::check_kez_event`, or its nostr library) and then looks the addr
/// up and drops event ids it has seen.
///
/// # Errors
/// The first [`Reject`] that applies.
pub fn check_unsigned(event: &Event, now: i64) -> Result<&str, Reject> {
    if !matches!(event.kind, KIND_MESSAGE | KIND_SILENT) {
        return Err(Reject::WrongKind);
    }
    let q = event.q().filter(|q| is_addr(q)).ok_or(Reject::BadRoute)?;
    check_freshness(event.created_at, now)?;
    if !event.id_matches() {
        return Err(Reject::BadId);
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str =
        "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    #[test]
    fn addr_is_the_domain_separated_hash_of_the_primary() {
        let id = Identity::parse(PRIMARY).unwrap();
        let a = addr(&id);
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        let mut h = Sha256::new();
        h.update(format!("kez.chat.nostr.addr.v1\n{PRIMARY}").as_bytes());
        assert_eq!(a, hex::encode(h.finalize()));
        assert_eq!(a, addr_of_str(PRIMARY));
        assert_ne!(a, addr_of_str(&PRIMARY.replace("d75a", "d75b")));
    }

    #[test]
    fn freshness_bounds_are_inclusive() {
        let now = 1_779_678_000;
        assert!(is_fresh(now, now));
        assert!(is_fresh(now + MAX_FUTURE_SECS, now));
        assert!(!is_fresh(now + MAX_FUTURE_SECS + 1, now));
        assert!(is_fresh(now - LOOKBACK_SECS, now));
        assert!(!is_fresh(now - LOOKBACK_SECS - 1, now));
        assert!(!is_fresh(i64::MIN, i64::MAX));
        assert!(!is_fresh(i64::MAX, i64::MIN));
    }

    #[test]
    fn tags_and_id_follow_nip01() {
        let t = tags("ab", 100);
        assert_eq!(t, vec![vec!["q", "ab"], vec!["expiration", "172900"]]);
        let s = serialize_for_id("pk", 100, KIND_MESSAGE, &t, "a\"b\n\u{1}é");
        assert_eq!(
            s,
            r#"[0,"pk",100,4243,[["q","ab"],["expiration","172900"]],"a\"b\n\u0001é"]"#
        );
        let ev = Event {
            id: hex::encode(event_id("pk", 100, KIND_MESSAGE, &t, "x")),
            pubkey: "pk".to_owned(),
            created_at: 100,
            kind: KIND_MESSAGE,
            tags: t,
            content: "x".to_owned(),
            sig: String::new(),
        };
        assert!(ev.id_matches());
        assert_eq!(ev.q(), Some("ab"));
        let mut bad = ev;
        bad.created_at += 1;
        assert!(!bad.id_matches());
    }
}
