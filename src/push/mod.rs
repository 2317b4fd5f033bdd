//! Web Push (RFC 8030 + VAPID RFC 8292, SPEC §10): subscriptions signed by
//! the handle's key, and an empty, VAPID-signed push to each of a handle's
//! subscriptions after a message to it is stored.
//!
//! `notify` is a non-blocking send to a bounded queue; a [`PushWorker`]
//! coalesces per handle and sends. At shutdown, once the last request has
//! finished, `drain` makes the worker push whatever is still inside its
//! coalescing window, so a message stored just before a restart still
//! wakes the recipient's devices.

mod coalescer;
mod endpoint;
mod sender;
mod subscriptions;
mod vapid;

pub(crate) use endpoint::AllPublicResolver;
pub(crate) use sender::is_refused_address;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use crate::config::Config;
use crate::kez::Handle;
use crate::state::AppState;
use crate::store::Store;
use crate::telemetry::Redactor;

pub use endpoint::{
    EndpointError, MAX_ENDPOINT_BYTES, PushHosts, is_public_ip, validate as validate_endpoint,
};
pub use sender::{
    MAX_ATTEMPTS, MAX_CONCURRENT_PUSHES, MAX_DELIVERY_TASKS, MAX_PENDING_HANDLES, PUSH_TTL_SECS,
    QUEUE_CAPACITY, REQUEST_TIMEOUT,
};
pub use subscriptions::{MAX_BODY_BYTES, MAX_SUBSCRIPTIONS_PER_HANDLE};
pub use vapid::{JWT_LIFETIME_SECS, VapidKey, audience};

/// Routes owned by Web Push.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/push/vapid-public-key", get(vapid_public_key))
        .merge(subscriptions::routes())
}

/// # `GET /v1/push/vapid-public-key`
/// The `applicationServerKey` for `pushManager.subscribe`.
async fn vapid_public_key(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "key": state.push.public_key() }))
}

/// Handle to the push subsystem held in `AppState`; cheap to clone.
#[derive(Clone)]
pub struct PushService {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<sender::Notice>,
    /// Set once by `drain`; every worker run watches it.
    drain: watch::Sender<bool>,
    dispatcher: Arc<sender::Dispatcher>,
}

/// The delivery side of a [`PushService`], returned with it by
/// [`PushService::new`] for the server to run and supervise.
pub struct PushWorker {
    dispatcher: Arc<sender::Dispatcher>,
    queue: mpsc::Receiver<sender::Notice>,
    drain: watch::Receiver<bool>,
}

/// Counters since start, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushStats {
    /// Notifications accepted into the queue.
    pub queued: u64,
    /// Notifications folded into a push already due for the same handle.
    pub coalesced: u64,
    /// Notifications dropped because the queue or backlog was full.
    pub dropped: u64,
    /// Pushes the push service accepted (2xx).
    pub delivered: u64,
    /// Tries repeated after 429, 5xx or a network error.
    pub retried: u64,
    /// Subscriptions removed after 404/410.
    pub removed: u64,
    /// Pushes given up on.
    pub failed: u64,
    /// Coalescing windows closed, each with all its deliveries started
    /// (with `in_flight` at 0, nothing more is sent for them).
    pub flushed: u64,
    /// Deliveries alive now, sending or waiting to retry (a gauge).
    pub in_flight: u64,
    /// Of `delivered`: pushes of windows the nostr listener opened or joined.
    pub nostr_delivered: u64,
    /// Of `dropped`: notifications of the nostr listener.
    pub nostr_dropped: u64,
}

impl PushService {
    /// Loads (or on first start generates and stores) the VAPID key and
    /// builds the shared outbound client. Needs no runtime; notifications
    /// queue up until the returned [`PushWorker`] runs.
    pub fn new(
        config: &Config,
        store: &Store,
        redact: &Redactor,
    ) -> anyhow::Result<(Self, PushWorker)> {
        let stored = store
            .vapid_private_key(|| VapidKey::generate().private_b64())
            .context("cannot load the VAPID key")?;
        let vapid = VapidKey::from_private_b64(&stored)?;
        let subject = match &config.vapid_subject {
            Some(s) => {
                anyhow::ensure!(
                    s.starts_with("mailto:") || s.starts_with("https://"),
                    "--vapid-subject must be a mailto: or https: URL"
                );
                s.clone()
            }
            None => format!("mailto:admin@{}", config.server),
        };
        if let Some(host) = vapid::local_subject_host(&subject) {
            tracing::warn!(
                subject = %subject,
                "the VAPID subject's host {host:?} is not a public name: push services \
                 (Apple's) refuse it; set --vapid-subject (or --server) to a public one"
            );
        }
        let client = sender::build_client(config.allow_insecure_push_endpoints)
            .context("cannot build the push HTTP client")?;
        if config.allow_insecure_push_endpoints {
            tracing::warn!(
                "push endpoints may be http:// and private addresses (--allow-insecure-push-endpoints)"
            );
        }
        let (tx, rx) = mpsc::channel(sender::QUEUE_CAPACITY);
        let dispatcher = Arc::new(sender::Dispatcher {
            client,
            vapid,
            subject,
            store: store.clone(),
            allow_insecure: config.allow_insecure_push_endpoints,
            hosts: endpoint::PushHosts::parse(&config.push_hosts),
            redact: redact.clone(),
            counters: Arc::default(),
            permits: Arc::new(Semaphore::new(sender::MAX_CONCURRENT_PUSHES)),
            tasks: Arc::new(Semaphore::new(sender::MAX_DELIVERY_TASKS)),
            draining: false.into(),
            coalesce_window: std::time::Duration::from_millis(config.push_coalesce_ms),
            max_retry_wait: std::time::Duration::from_secs(config.push_max_retry_wait_secs),
        });
        let (drain, drain_rx) = watch::channel(false);
        let worker = PushWorker {
            dispatcher: dispatcher.clone(),
            queue: rx,
            drain: drain_rx,
        };
        let service = Self {
            inner: Arc::new(Inner {
                tx,
                drain,
                dispatcher,
            }),
        };
        Ok((service, worker))
    }

    /// Checks a client's endpoint: valid, public, and on a push service
    /// this server sends to (`--push-hosts`).
    pub fn accept_endpoint(&self, endpoint: &str) -> Result<url::Url, EndpointError> {
        let d = &self.inner.dispatcher;
        endpoint::accept(endpoint, d.allow_insecure, &d.hosts)
    }

    /// The VAPID public key (65-byte uncompressed point, base64url).
    pub fn public_key(&self) -> &str {
        self.inner.dispatcher.vapid.public_b64()
    }

    /// Schedules a push to every subscription of `handle`; never blocks.
    /// When the queue is full the notification is dropped and counted.
    pub fn notify(&self, handle: &Handle) {
        self.enqueue(handle, false);
    }

    /// [`Self::notify`] for the nostr listener (SPEC §12): the same push,
    /// its deliveries and drops also counted as nostr's.
    pub fn notify_from_nostr(&self, handle: &Handle) {
        self.enqueue(handle, true);
    }

    fn enqueue(&self, handle: &Handle, from_nostr: bool) {
        let counters = &self.inner.dispatcher.counters;
        let notice = sender::Notice {
            handle: handle.clone(),
            from_nostr,
        };
        match self.inner.tx.try_send(notice) {
            Ok(()) => {
                sender::Counters::bump(&counters.queued);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                let n = sender::Counters::bump(&counters.dropped);
                if from_nostr {
                    sender::Counters::bump(&counters.nostr_dropped);
                }
                if n.is_power_of_two() {
                    tracing::warn!(dropped_total = n, "push queue full; notification dropped");
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PushStats {
        let c = &self.inner.dispatcher.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        PushStats {
            queued: get(&c.queued),
            coalesced: get(&c.coalesced),
            dropped: get(&c.dropped),
            delivered: get(&c.delivered),
            retried: get(&c.retried),
            removed: get(&c.removed),
            failed: get(&c.failed),
            flushed: get(&c.flushed),
            in_flight: self.inner.dispatcher.live_deliveries(),
            nostr_delivered: get(&c.nostr_delivered),
            nostr_dropped: get(&c.nostr_dropped),
        }
    }

    /// Tells the worker to push every handle still inside its coalescing
    /// window now (one try each) and then stop. Called at shutdown after
    /// the last request finished; the caller bounds the wait on the worker.
    pub fn drain(&self) {
        self.inner.drain.send_replace(true);
    }
}

impl PushWorker {
    /// Delivers queued notifications until [`PushService::drain`]. Takes
    /// `&mut self`, not `self`, so a supervisor can run the worker again
    /// after a run that panicked: the queue survives (only what was inside
    /// the coalescing window is lost), and a drain requested before the
    /// new run starts is still seen.
    pub async fn run(&mut self) {
        let (drain_tx, drain_rx) = oneshot::channel();
        let mut drain = self.drain.clone();
        let relay = async move {
            if drain.wait_for(|d| *d).await.is_ok() {
                let _ = drain_tx.send(());
            }
            // Ends only with the worker, below.
            std::future::pending::<()>().await;
        };
        tokio::select! {
            () = sender::run(self.dispatcher.clone(), &mut self.queue, drain_rx) => {}
            () = relay => {}
        }
    }
}
