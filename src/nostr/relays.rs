//! Per-relay bookkeeping of the listener: which relays may have lost our
//! subscriptions, the re-fetch owed after a lag, and our subscription ids.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use nostr_sdk::prelude::*;

/// Least time between two re-fetches after a lag (each re-sends every
/// shard to every relay, so a listener that keeps lagging asks again at
/// most this often).
pub(super) const REFETCH_MIN_GAP: Duration = Duration::from_secs(5);

/// Per relay: what says it may not hold our subscriptions. nostr-sdk
/// re-sends a subscription on a reconnect only if the relay took it in the
/// first place: one sent while a relay that already failed to connect is
/// down is refused for that relay (`NotConnected`, reported only in the
/// output's `failed`) and never sent to it later; and nostr-sdk forgets a
/// subscription the relay closed. So the listener re-sends every shard
/// itself (TODO #60).
#[derive(Default)]
pub(super) struct RelayWatch {
    /// nostr-sdk's count of connections made to each relay, last look.
    pub(super) connections: HashMap<RelayUrl, usize>,
    /// Relays that refused a subscription: re-sent to once connected.
    pub(super) pending: HashSet<RelayUrl>,
    /// Relays that closed one of ours (`CLOSED`) or refused a re-send:
    /// tried again at the next resync, so at most every 30 s (no REQ flood,
    /// no log line a second).
    pub(super) retry: HashSet<RelayUrl>,
}

impl RelayWatch {
    /// Notes a relay that closed one of our subscriptions.
    pub(super) fn on_message(&mut self, url: RelayUrl, message: &RelayMessage<'_>) {
        if let RelayMessage::Closed {
            subscription_id, ..
        } = message
            && subscription_id.as_str().starts_with(SUBSCRIPTION_PREFIX)
        {
            self.retry.insert(url);
        }
    }
}

/// A re-fetch owed after a lag: every shard sent again with a fresh
/// lookback, at most every [`REFETCH_MIN_GAP`].
#[derive(Default)]
pub(super) struct Refetch {
    pub(super) due: bool,
    last: Option<tokio::time::Instant>,
}

impl Refetch {
    /// Whether to re-fetch now (then it is no longer due).
    pub(super) fn ready(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if !self.due || self.last.is_some_and(|t| now - t < REFETCH_MIN_GAP) {
            return false;
        }
        self.due = false;
        self.last = Some(now);
        true
    }
}

/// Our subscription ids are `kez-q-<shard number>`.
const SUBSCRIPTION_PREFIX: &str = "kez-q-";

pub(super) fn shard_id(n: usize) -> SubscriptionId {
    SubscriptionId::new(format!("{SUBSCRIPTION_PREFIX}{n}"))
}
