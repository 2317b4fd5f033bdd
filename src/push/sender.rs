//! The push worker: coalesces notifications per handle, then sends one empty
//! VAPID-signed push to each of the handle's subscriptions with one shared,
//! SSRF-guarded HTTP client, bounded concurrency, and retries for transient
//! failures. Nothing here runs on the request path: `notify` only does a
//! non-blocking channel send.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::http::header;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;

use super::coalescer::{Added, Coalescer};
use super::endpoint::{self, PublicOnlyResolver};
use super::vapid::VapidKey;
use crate::kez::Handle;
use crate::store::{PushSubscription, Store, unix_now};
use crate::telemetry::Redactor;

mod attempt;

pub(crate) use attempt::is_refused_address;
use attempt::{Attempt, backoff, classify, describe};

/// Notifications waiting for the worker; beyond this they are dropped and counted.
pub const QUEUE_CAPACITY: usize = 4096;
/// Handles waiting out their coalescing window; beyond this new ones are dropped.
pub const MAX_PENDING_HANDLES: usize = 16_384;
/// Push requests in flight at once (a delivery waiting to retry holds none).
pub const MAX_CONCURRENT_PUSHES: usize = 32;
/// Deliveries alive at once, in flight or waiting to retry; beyond this the
/// worker waits, and the bounded queue behind it absorbs (or drops) the rest.
pub const MAX_DELIVERY_TASKS: usize = 1024;
/// Whole-request timeout for one push.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Tries per push (the first plus retries) on 429, 5xx, timeouts and network errors.
pub const MAX_ATTEMPTS: u32 = 4;
/// The `TTL` header: how long the push service keeps an undelivered push.
pub const PUSH_TTL_SECS: u32 = 86_400;

const USER_AGENT: &str = concat!("kez-chat-server/", env!("CARGO_PKG_VERSION"), " (web-push)");

/// The shared outbound client: fixed User-Agent, timeouts, no redirects, no
/// proxy, and unless `allow_insecure` https only with a resolver that refuses
/// non-public addresses.
pub(crate) fn build_client(allow_insecure: bool) -> anyhow::Result<reqwest::Client> {
    // reqwest is built without a default TLS provider; ring is ours. Fails
    // harmlessly if a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if !allow_insecure {
        builder = builder.https_only(true).dns_resolver(PublicOnlyResolver);
    }
    Ok(builder.build()?)
}

/// Counters, shared by the service and the worker.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) queued: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) removed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) flushed: AtomicU64,
    /// Of `delivered`: pushes of windows a nostr notification opened or joined.
    pub(crate) nostr_delivered: AtomicU64,
    /// Of `dropped`: notifications from the nostr listener.
    pub(crate) nostr_dropped: AtomicU64,
}

/// One notification on the queue: whom to push, and whether the nostr
/// listener asked (its pushes are counted apart, SPEC §12).
#[derive(Debug)]
pub(crate) struct Notice {
    pub(crate) handle: Handle,
    pub(crate) from_nostr: bool,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Everything the worker and its delivery tasks need. Holds no sender of the
/// notification channel, so the worker ends once the service is dropped.
pub(crate) struct Dispatcher {
    pub(crate) client: reqwest::Client,
    pub(crate) vapid: VapidKey,
    pub(crate) subject: String,
    pub(crate) store: Store,
    pub(crate) allow_insecure: bool,
    pub(crate) hosts: endpoint::PushHosts,
    pub(crate) redact: Redactor,
    pub(crate) counters: Arc<Counters>,
    pub(crate) permits: Arc<Semaphore>,
    /// One per live delivery task (see `MAX_DELIVERY_TASKS`).
    pub(crate) tasks: Arc<Semaphore>,
    /// Set at shutdown: one try per push, no waiting to retry.
    pub(crate) draining: AtomicBool,
    /// Notifications for one handle within this window become one push
    /// (`--push-coalesce-ms`).
    pub(crate) coalesce_window: Duration,
    /// Longest wait between tries, whatever `Retry-After` asks for
    /// (`--push-max-retry-wait-secs`).
    pub(crate) max_retry_wait: Duration,
}

/// The worker loop: collects handles from `rx`, waits out each one's window,
/// then fans out. When `drain` fires (after the last request finished at
/// shutdown) it pushes every handle still waiting at once, without retries,
/// waits for the deliveries in flight, and ends. It also ends when every
/// sender is gone.
pub(crate) async fn run(
    dispatcher: Arc<Dispatcher>,
    rx: &mut mpsc::Receiver<Notice>,
    drain: tokio::sync::oneshot::Receiver<()>,
) {
    let mut pending = Coalescer::new(dispatcher.coalesce_window, MAX_PENDING_HANDLES);
    let mut drain = std::pin::pin!(drain);
    loop {
        let due = pending.next_due();
        let wait = async move {
            match due {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = rx.recv() => {
                let Some(Notice { handle, from_nostr }) = received else { break };
                match pending.add(handle, from_nostr, Instant::now()) {
                    Added::Scheduled => {}
                    Added::Coalesced => {
                        Counters::bump(&dispatcher.counters.coalesced);
                    }
                    Added::Full => {
                        let n = Counters::bump(&dispatcher.counters.dropped);
                        if from_nostr {
                            Counters::bump(&dispatcher.counters.nostr_dropped);
                        }
                        if n.is_power_of_two() {
                            tracing::warn!(dropped_total = n, "push backlog full; notification dropped");
                        }
                    }
                }
            }
            () = wait => {
                for (handle, nostr) in pending.take_due(Instant::now()) {
                    dispatcher.fanout(&handle, nostr).await;
                }
            }
            _ = &mut drain => {
                dispatcher.draining.store(true, Ordering::Relaxed);
                let now = Instant::now();
                while let Ok(n) = rx.try_recv() {
                    if pending.add(n.handle, n.from_nostr, now) == Added::Coalesced {
                        Counters::bump(&dispatcher.counters.coalesced);
                    }
                }
                let due = pending.take_all();
                tracing::debug!(handles = due.len(), "push worker draining");
                for (handle, nostr) in due {
                    dispatcher.fanout(&handle, nostr).await;
                }
                // A request in flight holds a slot; deliveries that were waiting
                // to retry give up at their next try (draining), so all slots
                // back means nothing more will be sent.
                let all = u32::try_from(MAX_CONCURRENT_PUSHES).unwrap_or(u32::MAX);
                let _ = dispatcher.permits.acquire_many(all).await;
                break;
            }
        }
    }
    tracing::debug!("push worker stopped");
}

impl Dispatcher {
    /// Deliveries alive now, sending or waiting to retry.
    pub(crate) fn live_deliveries(&self) -> u64 {
        let live = MAX_DELIVERY_TASKS.saturating_sub(self.tasks.available_permits());
        u64::try_from(live).unwrap_or(u64::MAX)
    }

    /// Ends one coalescing window: starts the deliveries for `handle`, then
    /// counts the window as flushed (every delivery of it has started).
    async fn fanout(self: &Arc<Self>, handle: &Handle, from_nostr: bool) {
        self.start_deliveries(handle, from_nostr).await;
        Counters::bump(&self.counters.flushed);
    }

    /// Starts one delivery per subscription of `handle`, waiting for a task
    /// slot and a request slot before each (back-pressure lands on the
    /// bounded queue).
    async fn start_deliveries(self: &Arc<Self>, handle: &Handle, from_nostr: bool) {
        let subs = match self.store.push_subscriptions_of(handle.clone()).await {
            Ok(subs) => subs,
            Err(e) => {
                tracing::warn!(handle = %self.redact.hash(handle.as_str()), error = %e, "cannot load push subscriptions");
                return;
            }
        };
        for sub in subs {
            let Ok(task) = self.tasks.clone().acquire_owned().await else {
                return;
            };
            let Ok(permit) = self.permits.clone().acquire_owned().await else {
                return;
            };
            let this = self.clone();
            tokio::spawn(async move {
                this.deliver(sub, permit, from_nostr).await;
                drop(task);
            });
        }
    }

    /// Sends one push, retrying transient failures and deleting the
    /// subscription when the push service says it is gone. `permit` is held
    /// only while a request is in flight, never across a retry wait, so slow
    /// or rate-limiting push services can't hold every slot for minutes.
    async fn deliver(&self, sub: PushSubscription, permit: OwnedSemaphorePermit, from_nostr: bool) {
        let handle = self.redact.hash(sub.handle.as_str());
        let endpoint = self.redact.hash(&sub.endpoint);
        let mut first = Some(permit);
        for attempt in 1..=MAX_ATTEMPTS {
            let slot = match first.take() {
                Some(p) => p,
                None if self.draining.load(Ordering::Relaxed) => {
                    Counters::bump(&self.counters.failed);
                    return;
                }
                None => match self.permits.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            match self.send_once(&sub).await {
                Attempt::Delivered => {
                    Counters::bump(&self.counters.delivered);
                    if from_nostr {
                        Counters::bump(&self.counters.nostr_delivered);
                    }
                    tracing::debug!(%handle, %endpoint, attempt, "push delivered");
                    return;
                }
                Attempt::Gone(status) => {
                    // Counted once the row is gone: a reader of `removed` (the
                    // self-heal check, the tests) then sees it deleted.
                    let deleted = self.store.delete_gone_push_subscription(sub).await;
                    Counters::bump(&self.counters.removed);
                    tracing::info!(%handle, %endpoint, status = status.as_u16(), deleted = ?deleted.ok(),
                        "push subscription gone; removed");
                    return;
                }
                Attempt::Refused => {
                    let deleted = self.store.delete_gone_push_subscription(sub).await;
                    Counters::bump(&self.counters.removed);
                    tracing::info!(%handle, %endpoint, deleted = ?deleted.ok(),
                        "push endpoint no longer allowed (--push-hosts, https, public host); removed");
                    return;
                }
                Attempt::Retry { after, why }
                    if attempt < MAX_ATTEMPTS && !self.draining.load(Ordering::Relaxed) =>
                {
                    Counters::bump(&self.counters.retried);
                    let wait = after
                        .unwrap_or_else(|| backoff(attempt))
                        .min(self.max_retry_wait);
                    tracing::debug!(%handle, %endpoint, attempt, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), reason = %why,
                        "push failed; retrying");
                    drop(slot);
                    tokio::time::sleep(wait).await;
                }
                Attempt::Retry { why, .. } | Attempt::Failed(why) => {
                    Counters::bump(&self.counters.failed);
                    tracing::warn!(%handle, %endpoint, attempt, reason = %why, "push not delivered");
                    return;
                }
            }
        }
    }

    async fn send_once(&self, sub: &PushSubscription) -> Attempt {
        // Re-checked on every send: the policy may have tightened since
        // registration, and literal addresses never reach the resolver.
        let Ok(url) = endpoint::accept(&sub.endpoint, self.allow_insecure, &self.hosts) else {
            return Attempt::Refused;
        };
        let authorization = self.vapid.authorization(&url, unix_now(), &self.subject);
        let sent = self
            .client
            .post(url)
            .header(header::AUTHORIZATION, authorization)
            .header("ttl", PUSH_TTL_SECS)
            .header("urgency", "high")
            // Empty push (no payload, so no Content-Encoding); some fronts
            // answer 411 to a POST without an explicit length.
            .header(header::CONTENT_LENGTH, 0)
            .body(Vec::new())
            .send()
            .await;
        match sent {
            Ok(res) => classify(res.status(), res.headers()),
            Err(e) if is_refused_address(&e) => Attempt::Failed(describe(&e)),
            Err(e) => Attempt::Retry {
                after: None,
                why: describe(&e),
            },
        }
    }
}

#[cfg(test)]
mod tests;
