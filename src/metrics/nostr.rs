//! The nostr listener's figures (SPEC §12): apart from the other groups as
//! they are the most numerous, one counter per refusal reason.

use prometheus_client::registry::Registry;

use super::registry::{counter, counters, gauge, load};

/// The nostr listener's counters (SPEC §12), with `--nostr-relays`: one
/// `nostr_events_rejected_<code>` per refusal reason (SPEC §12's codes,
/// `unknown_addr`, `not_envelope`), and the pushes nostr caused that were
/// sent or dropped, apart from the events accepted.
pub(super) fn nostr_metrics(
    r: &mut Registry,
    s: &crate::nostr::NostrStats,
    push: &crate::push::PushStats,
) {
    use crate::nostr::Refusal as R;
    let refusals = [
        (
            R::WrongKind,
            &s.rejected_wrong_kind,
            "of another kind than 4243",
        ),
        (
            R::BadRoute,
            &s.rejected_bad_route,
            "whose first q tag is not 64 lowercase hex",
        ),
        (R::Future, &s.rejected_future, "dated more than 5 min ahead"),
        (R::Stale, &s.rejected_stale, "dated more than 48 h ago"),
        (R::BadId, &s.rejected_bad_id, "whose id is not their hash"),
        (
            R::BadSignature,
            &s.rejected_bad_signature,
            "whose signature does not verify",
        ),
        (
            R::UnknownAddr,
            &s.rejected_unknown_addr,
            "for no registered handle",
        ),
        (
            R::NotEnvelope,
            &s.rejected_not_envelope,
            "whose content is not an envelope v2",
        ),
    ];
    for (why, value, help) in refusals {
        let name = format!("nostr_events_rejected_{}", why.code());
        counter(
            r,
            &name,
            &format!("nostr events refused: {help}"),
            load(value),
        );
    }
    counters(
        r,
        &[
            (
                "nostr_events_received",
                "nostr events delivered by relays (every copy)",
                load(&s.received),
            ),
            (
                "nostr_events_accepted",
                "nostr events that passed every check and the budget, handed to push",
                load(&s.accepted),
            ),
            (
                "nostr_events_duplicate",
                "nostr events already accepted here, or claimed by another instance",
                load(&s.duplicates),
            ),
            (
                "nostr_events_unclaimed",
                "accepted nostr events pushed without a database claim (queue full or database error)",
                load(&s.unclaimed),
            ),
            (
                "nostr_events_over_budget",
                "valid nostr events dropped over their handle's push budget",
                load(&s.over_budget),
            ),
            (
                "nostr_pushes_sent",
                "Web Pushes delivered for windows a nostr event opened or joined",
                push.nostr_delivered,
            ),
            (
                "nostr_pushes_dropped",
                "nostr push notifications dropped by a full push queue or backlog",
                push.nostr_dropped,
            ),
            (
                "nostr_notifications_lagged",
                "nostr notifications lost to a full channel",
                load(&s.lagged),
            ),
            (
                "nostr_refetches",
                "times every shard was re-sent with a fresh lookback after a lag",
                load(&s.refetched),
            ),
            (
                "nostr_resubscriptions",
                "times every shard was re-sent to a relay that reconnected or closed ours",
                load(&s.resubscribed),
            ),
        ],
    );
    gauge(
        r,
        "nostr_relays_connected",
        "nostr relays connected now",
        i64::try_from(load(&s.relays_connected)).unwrap_or(i64::MAX),
    );
}
