//! The listener task: one nostr-sdk client on every `--nostr-relays` relay,
//! the `#q` subscriptions kept in step with the registered handles, and
//! each notification checked and turned into at most one push.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota};
use nostr_sdk::prelude::*;
use parking_lot::Mutex;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch};

use super::check::{Dedupe, check_event};
use super::claims::{self, Claim, Outcome};
use super::nodb::NoDatabase;
use super::relays::{Refetch, RelayWatch, shard_id};
use super::shards::shard;
use super::{NostrHandle, NostrStats};
use crate::kez::Handle;
use crate::kez::nostr::KIND_MESSAGE;
use crate::push::PushService;
use crate::store::{Store, unix_now};

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
/// The pool's notification channel (nostr-sdk's default): a burst beyond
/// it while the listener is busy is a lag, answered by a re-fetch.
pub const NOTIFICATION_CHANNEL_SIZE: usize = 4096;

/// The listener's configuration and shared parts; [`Self::run`] is the
/// supervised task (a restart builds a fresh client, but keeps the ids
/// already accepted and the push budgets: the new subscriptions' 60 s
/// lookback re-delivers recent events, which must not push again).
pub struct NostrListener {
    relays: Vec<String>,
    store: Store,
    push: PushService,
    handle: NostrHandle,
    seen: Mutex<Dedupe>,
    /// Whether the stored ids were read into `seen` (once per process).
    loaded: AtomicBool,
    budget: DefaultKeyedRateLimiter<Handle>,
    channel_size: usize,
}

/// What a run knows: the addr → handle map, the subscribed shards and the
/// filter each was last sent with (re-sent as is to a relay that reconnects).
#[derive(Default)]
struct Subscribed {
    order: Vec<String>,
    addrs: HashMap<String, Handle>,
    shards: Vec<Vec<String>>,
    filters: Vec<Filter>,
}

impl NostrListener {
    /// A listener for `relays` (validated URLs), not yet running, that
    /// causes at most `push_per_minute` pushes per handle and minute (a
    /// bucket of as many; `--nostr-push-per-minute`).
    pub fn new(
        relays: Vec<String>,
        store: Store,
        push: PushService,
        handle: NostrHandle,
        push_per_minute: u32,
    ) -> Self {
        let rate = NonZeroU32::new(push_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            relays,
            store,
            push,
            handle,
            seen: Mutex::default(),
            loaded: AtomicBool::new(false),
            budget: DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate)),
            channel_size: NOTIFICATION_CHANNEL_SIZE,
        }
    }

    /// The same listener with a notification channel of `size` (tests make
    /// it tiny to make the listener lag).
    #[must_use]
    pub fn with_channel_size(mut self, size: usize) -> Self {
        self.channel_size = size.max(1);
        self
    }

    /// A client that remembers no event id ([`NoDatabase`]): every copy
    /// reaches our [`Dedupe`].
    fn client(&self) -> Client {
        let pool = RelayPoolOptions::new().notification_channel_size(self.channel_size);
        Client::builder()
            .database(NoDatabase)
            .opts(ClientOptions::new().pool(pool))
            .build()
    }

    fn stats(&self) -> &NostrStats {
        &self.handle.stats
    }

    /// Connects, subscribes and pushes until `shutdown` flips. The first
    /// run of a process reads the ids claimed lately into the dedupe. A
    /// panic in a run loses the claims still queued (their ids are already
    /// in the dedupe, so those events make no push).
    pub async fn run(&self, shutdown: watch::Receiver<bool>) {
        if !self.loaded.swap(true, Ordering::Relaxed) {
            claims::load(&self.store, unix_now(), &self.seen).await;
        }
        let (tx, rx) = mpsc::channel(claims::QUEUE);
        let claimer = claims::run(&self.store, rx, unix_now, |handle, outcome| {
            self.settle(handle, outcome);
        });
        // `listen` drops `tx` when it ends; the claimer then settles what
        // is queued and ends too.
        tokio::join!(self.listen(shutdown, tx), claimer);
    }

    /// The client with every relay added, connecting.
    async fn connect(&self) -> Client {
        let client = self.client();
        let opts = RelayOptions::new().retry_interval(RETRY_INTERVAL);
        for url in &self.relays {
            if let Err(e) = client.pool().add_relay(url.as_str(), opts.clone()).await {
                tracing::warn!(relay = %url, error.message = %e, "nostr relay not added");
            }
        }
        client
    }

    /// Listens until `shutdown` flips (or the client stops), handing
    /// checked events to `claims`; dropping it at the end ends the claimer.
    async fn listen(&self, mut shutdown: watch::Receiver<bool>, claims: mpsc::Sender<Claim>) {
        let client = self.connect().await;
        let mut rx = client.notifications();
        client.connect().await;
        let mut subscribed = Subscribed::default();
        let mut relays = RelayWatch::default();
        let mut refetch = Refetch::default();
        self.resync(&client, &mut subscribed, &mut relays).await;
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
                        self.on_event(&event, &subscribed, &claims);
                    }
                    Ok(RelayPoolNotification::Message { relay_url, message }) => {
                        relays.on_message(relay_url, &message);
                    }
                    Ok(RelayPoolNotification::Shutdown) | Err(RecvError::Closed) => {
                        tracing::warn!("nostr client stopped; restarting the listener");
                        break;
                    }
                    Err(RecvError::Lagged(n)) => {
                        self.stats().lagged.fetch_add(n, Ordering::Relaxed);
                        tracing::warn!(missed = n, "nostr listener fell behind; re-fetching");
                        refetch.due = true;
                    }
                },
                () = self.handle.wake.notified() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    self.resync(&client, &mut subscribed, &mut relays).await;
                }
                _ = resync.tick() => {
                    self.budget.retain_recent();
                    self.resync(&client, &mut subscribed, &mut relays).await;
                    for url in std::mem::take(&mut relays.retry) {
                        if !self.resend(&client, &url, &subscribed).await {
                            relays.retry.insert(url);
                        }
                    }
                }
                _ = status.tick() => {
                    self.watch_relays(&client, &subscribed, &mut relays).await;
                    if refetch.ready() {
                        // Every shard again, with `since` = now − 60 s.
                        subscribed.shards.clear();
                        self.resync(&client, &mut subscribed, &mut relays).await;
                        self.stats().refetched.fetch_add(1, Ordering::Relaxed);
                    }
                }
                () = &mut stop => break,
            }
        }
        self.stats().relays_connected.store(0, Ordering::Relaxed);
        client.shutdown().await;
    }

    /// Checks `event`; one that passes and is within its handle's budget
    /// goes to be claimed (with the claim queue full, it pushes unclaimed).
    fn on_event(&self, event: &Event, subscribed: &Subscribed, claims: &mpsc::Sender<Claim>) {
        let stats = self.stats();
        stats.received.fetch_add(1, Ordering::Relaxed);
        let now = chrono::Utc::now().timestamp();
        match check_event(event, &subscribed.addrs, now, &mut self.seen.lock()) {
            // Before the claim: every instance sees every event, so each
            // bucket bounds the pushes of all, and a flood costs no writes.
            Ok(handle) if self.budget.check_key(&handle).is_err() => {
                stats.over_budget.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("nostr event over its handle's push budget");
            }
            Ok(handle) => {
                let claim = Claim {
                    id: event.id,
                    handle,
                };
                if let Err(full) = claims.try_send(claim) {
                    self.settle(&full.into_inner().handle, Outcome::Unclaimed);
                }
            }
            Err(why) => {
                stats.refused(why);
                tracing::debug!(reason = ?why, "nostr event refused");
            }
        }
    }

    /// A claim's end: a push unless another instance (or this server
    /// before a restart) claimed the event first.
    fn settle(&self, handle: &Handle, outcome: Outcome) {
        let stats = self.stats();
        match outcome {
            Outcome::Taken => {
                stats.duplicates.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Outcome::Unclaimed => {
                stats.unclaimed.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Won => {}
        }
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        self.push.notify_from_nostr(handle);
    }

    /// Re-reads the handles and re-sends every shard whose values changed
    /// (`unsubscribe` then `subscribe_with_id`: also right on nostr-sdk 0.45).
    async fn resync(&self, client: &Client, subscribed: &mut Subscribed, watch: &mut RelayWatch) {
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
            let id = shard_id(n);
            let filter = Filter::new()
                .kind(Kind::from(KIND_MESSAGE))
                .custom_tags(q, values.iter().map(String::as_str))
                .since(since);
            client.unsubscribe(&id).await;
            match client.subscribe_with_id(id, filter.clone(), None).await {
                Ok(out) => watch.pending.extend(out.failed.into_keys()),
                Err(e) => {
                    // Kept as unsent: the next resync tries again.
                    tracing::warn!(shard = n, error.message = %e, "nostr subscription not sent");
                    subscribed.shards.truncate(n);
                    subscribed.filters.truncate(n);
                    return;
                }
            }
            if let Some(old) = subscribed.filters.get_mut(n) {
                *old = filter;
            } else {
                subscribed.filters.push(filter);
            }
        }
        subscribed.shards = shards;
    }

    /// Refreshes `relays_connected`, and re-sends every shard to a connected
    /// relay that refused one or connected again since the last look (its
    /// connection count grew): a relay that restarted forgot our subscriptions.
    async fn watch_relays(&self, client: &Client, subscribed: &Subscribed, watch: &mut RelayWatch) {
        let relays = client.relays().await;
        let mut up = 0_u64;
        for (url, relay) in &relays {
            if !relay.is_connected() {
                continue;
            }
            up += 1;
            let connections = relay.stats().success();
            let before = watch.connections.insert(url.clone(), connections);
            let refused = watch.pending.remove(url);
            if (refused || before.is_some_and(|n| n != connections))
                && !self.resend(client, url, subscribed).await
            {
                watch.retry.insert(url.clone());
            }
        }
        self.stats().relays_connected.store(up, Ordering::Relaxed);
    }

    /// Sends every subscribed shard to the relay at `url` again (a REQ with
    /// the same id replaces the relay's copy; what it re-delivers is dropped
    /// as already seen); `false` if the relay refused one (try again later).
    async fn resend(&self, client: &Client, url: &RelayUrl, subscribed: &Subscribed) -> bool {
        let Ok(relay) = client.relay(url).await else {
            return true; // not ours (any more): nothing to re-send
        };
        for (n, filter) in subscribed.filters.iter().enumerate() {
            let sent = relay
                .subscribe_with_id(shard_id(n), filter.clone(), SubscribeOptions::default())
                .await;
            if let Err(e) = sent {
                tracing::warn!(shard = n, error.message = %e, "nostr subscription not re-sent");
                return false;
            }
        }
        self.stats().resubscribed.fetch_add(1, Ordering::Relaxed);
        true
    }
}
