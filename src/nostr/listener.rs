//! The listener task: one nostr-sdk client on every `--nostr-relays` relay,
//! the `#q` subscriptions kept in step with the registered handles, and
//! each notification checked and turned into at most one push.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nostr_sdk::prelude::*;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use super::check::{Dedupe, check_event};
use super::shards::shard;
use super::{NostrHandle, NostrStats};
use crate::kez::Handle;
use crate::kez::nostr::KIND_MESSAGE;
use crate::push::PushService;
use crate::store::Store;

/// First wait before reconnecting a relay; nostr-sdk grows it with each
/// failure (up to 60 s, with jitter).
const RETRY_INTERVAL: Duration = Duration::from_secs(2);
/// How often the handles are re-read even without a registration here
/// (another instance may have registered one, SPEC §11).
const RESYNC_EVERY: Duration = Duration::from_secs(30);
/// Registrations within this long are folded into one re-subscription.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// How often `relays_connected` is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How far back a new subscription asks for events (seconds): a small
/// overlap over the moment it is sent; the dedupe drops repeats.
const SINCE_OVERLAP_SECS: u64 = 60;

/// The listener's configuration and shared parts; [`Self::run`] is the
/// supervised task (a restart builds a fresh client).
pub struct NostrListener {
    relays: Vec<String>,
    store: Store,
    push: PushService,
    handle: NostrHandle,
}

/// What a run knows: the addr → handle map and the subscribed shards.
#[derive(Default)]
struct Subscribed {
    order: Vec<String>,
    addrs: HashMap<String, Handle>,
    shards: Vec<Vec<String>>,
}

impl NostrListener {
    /// A listener for `relays` (validated URLs), not yet running.
    pub fn new(relays: Vec<String>, store: Store, push: PushService, handle: NostrHandle) -> Self {
        Self {
            relays,
            store,
            push,
            handle,
        }
    }

    fn stats(&self) -> &NostrStats {
        &self.handle.stats
    }

    /// Connects, subscribes and pushes until `shutdown` flips.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let client = Client::default();
        let opts = RelayOptions::new().retry_interval(RETRY_INTERVAL);
        for url in &self.relays {
            if let Err(e) = client.pool().add_relay(url.as_str(), opts.clone()).await {
                tracing::warn!(relay = %url, error.message = %e, "nostr relay not added");
            }
        }
        let mut rx = client.notifications();
        client.connect().await;
        let mut subscribed = Subscribed::default();
        let mut seen = Dedupe::default();
        self.resync(&client, &mut subscribed).await;
        let mut resync = tokio::time::interval(RESYNC_EVERY);
        let mut status = tokio::time::interval(STATUS_EVERY);
        let stop = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        tokio::pin!(stop);
        loop {
            tokio::select! {
                n = rx.recv() => match n {
                    Ok(RelayPoolNotification::Event { event, .. }) => {
                        self.on_event(&event, &subscribed, &mut seen);
                    }
                    Ok(RelayPoolNotification::Message { .. }) => {}
                    Ok(RelayPoolNotification::Shutdown) | Err(RecvError::Closed) => {
                        tracing::warn!("nostr client stopped; restarting the listener");
                        break;
                    }
                    Err(RecvError::Lagged(n)) => {
                        self.stats().lagged.fetch_add(n, Ordering::Relaxed);
                        tracing::warn!(missed = n, "nostr listener fell behind");
                    }
                },
                () = self.handle.wake.notified() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    self.resync(&client, &mut subscribed).await;
                }
                _ = resync.tick() => self.resync(&client, &mut subscribed).await,
                _ = status.tick() => self.count_connected(&client).await,
                () = &mut stop => break,
            }
        }
        self.stats().relays_connected.store(0, Ordering::Relaxed);
        client.shutdown().await;
    }

    fn on_event(&self, event: &Event, subscribed: &Subscribed, seen: &mut Dedupe) {
        let stats = self.stats();
        stats.received.fetch_add(1, Ordering::Relaxed);
        let now = chrono::Utc::now().timestamp();
        match check_event(event, &subscribed.addrs, now, seen) {
            Ok(handle) => {
                stats.pushed.fetch_add(1, Ordering::Relaxed);
                self.push.notify(&handle);
            }
            Err(why) => {
                stats.refused(why);
                tracing::debug!(reason = ?why, "nostr event refused");
            }
        }
    }

    /// Re-reads the handles and re-sends every shard whose values changed
    /// (`unsubscribe` then `subscribe_with_id`: also right on nostr-sdk 0.45).
    async fn resync(&self, client: &Client, subscribed: &mut Subscribed) {
        let rows = match self.store.all_primaries().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error.message = %e, "cannot read handles for nostr");
                return;
            }
        };
        for (handle, primary) in rows {
            let addr = crate::kez::nostr::addr(&primary);
            if !subscribed.addrs.contains_key(&addr) {
                subscribed.order.push(addr.clone());
                subscribed.addrs.insert(addr, handle);
            }
        }
        let shards = shard(&subscribed.order);
        let since = Timestamp::now() - SINCE_OVERLAP_SECS;
        let q = SingleLetterTag::lowercase(Alphabet::Q);
        for (n, values) in shards.iter().enumerate() {
            if subscribed.shards.get(n) == Some(values) {
                continue;
            }
            let id = SubscriptionId::new(format!("kez-q-{n}"));
            let filter = Filter::new()
                .kind(Kind::from(KIND_MESSAGE))
                .custom_tags(q, values.iter().map(String::as_str))
                .since(since);
            client.unsubscribe(&id).await;
            if let Err(e) = client.subscribe_with_id(id, filter, None).await {
                // Kept as unsent: the next resync tries again.
                tracing::warn!(shard = n, error.message = %e, "nostr subscription not sent");
                subscribed.shards.truncate(n);
                return;
            }
        }
        subscribed.shards = shards;
    }

    async fn count_connected(&self, client: &Client) {
        let relays = client.relays().await;
        let up = relays.values().filter(|r| r.is_connected()).count();
        self.stats()
            .relays_connected
            .store(u64::try_from(up).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}
