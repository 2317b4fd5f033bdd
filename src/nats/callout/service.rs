//! The callout as a background task: its own NATS connection as an
//! `auth_users` member, a queue subscription on `$SYS.REQ.USER.AUTH`, and
//! one answer per request (SPEC §11.1): up to [`MAX_IN_FLIGHT`] decided at
//! once, each within [`DECISION_TIMEOUT`] or refused as busy.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::Ordering;
use tokio::sync::{Notify, Semaphore, watch};

use super::{Authorizer, CALLOUT_QUEUE, CALLOUT_SUBJECT, Decisions, Outcome, RequestError};
use crate::store::Store;

/// First wait before retrying a failed connection; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// Most requests one instance decides at once; more are refused as busy at
/// once (no lookup), so one slow instance never holds the queue group's
/// share past nats-server's `auth_timeout`.
const MAX_IN_FLIGHT: usize = 64;
/// Longest one decision may take (the directory lookup waits for a database
/// reader); then the client is refused as busy and may retry. Below
/// nats-server's default `auth_timeout` (2 s).
const DECISION_TIMEOUT: Duration = Duration::from_secs(1);

/// The callout's counters and readiness, shared with `AppState`.
#[derive(Debug)]
pub struct CalloutStats {
    /// Requests answered, by outcome.
    pub decisions: Decisions,
    ready: watch::Sender<bool>,
    /// Seconds from a request's arrival to its answer being handed to NATS.
    answer_seconds: Histogram,
}

impl CalloutStats {
    /// Whether the service is connected and subscribed.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Resolves once the service is connected and subscribed.
    pub async fn ready(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Adds `nats_callout_decisions_total{outcome="instance|identity"}` and
    /// `{outcome="refused",reason=…}` (one per [`RequestError::label`]),
    /// the `nats_callout_answer_seconds` histogram and the
    /// `nats_callout_ready` gauge to a scrape. No identifiers.
    pub fn register_metrics(&self, r: &mut Registry) {
        type Labels = Vec<(&'static str, &'static str)>;
        let decisions = Family::<Labels, Counter>::default();
        let d = &self.decisions;
        for (outcome, n) in [("instance", &d.instance), ("identity", &d.identity)] {
            decisions
                .get_or_create(&vec![("outcome", outcome)])
                .inc_by(n.load(Ordering::Relaxed));
        }
        for why in RequestError::ALL {
            decisions
                .get_or_create(&vec![("outcome", "refused"), ("reason", why.label())])
                .inc_by(d.refused_for(why));
        }
        r.register_with_unit(
            "nats_callout_answer",
            "Time from an authorization request's arrival to its answer",
            Unit::Seconds,
            self.answer_seconds.clone(),
        );
        r.register(
            "nats_callout_decisions",
            "Authorization requests the NATS auth callout answered, by outcome",
            decisions,
        );
        let ready = Gauge::<i64>::default();
        ready.set(i64::from(self.is_ready()));
        r.register(
            "nats_callout_ready",
            "1 when the NATS auth callout is connected and subscribed",
            ready,
        );
    }
}

/// The background task answering nats-server's authorization requests.
pub struct CalloutService {
    url: String,
    user: String,
    password: String,
    authorizer: Arc<Authorizer>,
    store: Store,
    stats: Arc<CalloutStats>,
    /// [`MAX_IN_FLIGHT`] permits, one per request being decided.
    in_flight: Arc<Semaphore>,
}

impl std::fmt::Debug for CalloutService {
    // The password stays out of any debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalloutService")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl CalloutService {
    /// A service connecting to `url` as `user`/`password` (an `auth_users`
    /// member of nats-server's `auth_callout`), deciding with `authorizer`
    /// and looking keys up in `store`.
    pub fn new(
        url: &str,
        user: &str,
        password: &str,
        authorizer: Authorizer,
        store: Store,
    ) -> Self {
        Self {
            url: url.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            authorizer: Arc::new(authorizer),
            store,
            stats: Arc::new(CalloutStats {
                decisions: Decisions::default(),
                ready: watch::Sender::new(false),
                answer_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 13)),
            }),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// The shared counters and readiness signal.
    pub fn stats(&self) -> Arc<CalloutStats> {
        self.stats.clone()
    }

    /// Connects (retrying with backoff), subscribes in the queue group and
    /// answers requests until shutdown. async-nats reconnects a dropped
    /// connection and re-subscribes by itself; this loop starts over only if
    /// the subscription ends.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        self.stats.ready.send_replace(false);
        let mut backoff = FIRST_BACKOFF;
        // After a reconnect the session flushes on this before it reports ready again.
        let reconnected = Arc::new(Notify::new());
        loop {
            let (stats, notify) = (self.stats.clone(), reconnected.clone());
            let attempt = async_nats::ConnectOptions::with_user_and_password(
                self.user.clone(),
                self.password.clone(),
            )
            .name("kez-chat-server auth callout")
            .connection_timeout(Duration::from_secs(5))
            .event_callback(move |event| {
                match event {
                    async_nats::Event::Disconnected => {
                        stats.ready.send_replace(false);
                    }
                    async_nats::Event::Connected => notify.notify_one(),
                    _ => {}
                }
                async move { tracing::info!(%event, "NATS auth callout connection event") }
            })
            .connect(self.url.as_str());
            let connected = tokio::select! {
                c = attempt => c,
                _ = shutdown.changed() => return,
            };
            let error = match connected {
                Ok(client) => {
                    backoff = FIRST_BACKOFF;
                    match self.session(&client, &reconnected, &mut shutdown).await {
                        Ok(()) => return,
                        Err(e) => e,
                    }
                }
                Err(e) => e.into(),
            };
            self.stats.ready.send_replace(false);
            tracing::warn!(
                error.message = %error,
                retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                "NATS auth callout unavailable"
            );
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Answers requests on `client` until shutdown (`Ok`) or the
    /// subscription fails (`Err`).
    async fn session(
        &self,
        client: &async_nats::Client,
        reconnected: &Notify,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut requests = client
            .queue_subscribe(CALLOUT_SUBJECT, CALLOUT_QUEUE.to_owned())
            .await?;
        client.flush().await?;
        self.stats.ready.send_replace(true);
        tracing::info!("NATS auth callout ready");
        loop {
            let m = tokio::select! {
                m = requests.next() => m,
                () = reconnected.notified() => {
                    if let Ok(Ok(())) = tokio::time::timeout(FIRST_BACKOFF * 20, client.flush()).await {
                        self.stats.ready.send_replace(true);
                    }
                    continue;
                }
                _ = shutdown.changed() => return Ok(()),
            };
            let Some(m) = m else {
                anyhow::bail!("the auth callout subscription ended");
            };
            self.answer(client, m).await;
        }
    }

    /// Decides one request in a task of its own (a permit of
    /// [`MAX_IN_FLIGHT`] held, within [`DECISION_TIMEOUT`]) that publishes
    /// the answer on the shared client. Without a free permit the answer is
    /// a busy refusal, made and published here without a lookup, so this
    /// loop slows down rather than piling up tasks.
    async fn answer(&self, client: &async_nats::Client, m: async_nats::Message) {
        let started = std::time::Instant::now();
        let Some(reply) = m.reply else { return };
        let request = m.payload;
        let now = chrono::Utc::now().timestamp();
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            let why = RequestError::Busy;
            let response = self.authorizer.refuse(&request, now, why);
            finish(
                &self.stats,
                client,
                reply,
                response,
                Outcome::Refused(why),
                started,
            )
            .await;
            return;
        };
        let (authorizer, store, stats) = (
            self.authorizer.clone(),
            self.store.clone(),
            self.stats.clone(),
        );
        let client = client.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let decide = authorizer.authorize_within(&request, now, &store, DECISION_TIMEOUT);
            let (response, outcome) = decide.await;
            finish(&stats, &client, reply, response, outcome, started).await;
        });
    }
}

/// Counts `outcome`, publishes `response` to `reply` and records the time
/// since `started`.
async fn finish(
    stats: &CalloutStats,
    client: &async_nats::Client,
    reply: async_nats::Subject,
    response: String,
    outcome: Outcome,
    started: std::time::Instant,
) {
    stats.decisions.count(outcome);
    // Debug, not info: anyone can make refusals by connecting (the metric
    // counts them by reason); the reason names no key or handle.
    if let Outcome::Refused(why) = outcome {
        tracing::debug!(
            reason = why.label(),
            "NATS auth callout refused a connection"
        );
    }
    // A failed publish means the connection is gone: nats-server times the
    // client out, and the session notices the loss itself.
    let _ = client.publish(reply, response.into()).await;
    stats
        .answer_seconds
        .observe(started.elapsed().as_secs_f64());
}
