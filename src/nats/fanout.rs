//! Cross-instance fan-out over NATS (SPEC §11).
//!
//! Several server processes can share one SQLite file behind one proxy; a
//! message stored by one of them must still reach SSE streams held by the
//! others. [`NatsBroker`] delivers to local streams through a [`LocalBroker`]
//! at once, exactly as without NATS, and also hands the message to the
//! [`NatsBridge`] task through a bounded queue (never blocking the writer
//! thread, so a slow or absent NATS can't delay or fail a post). The bridge
//! publishes on `kez.chat.inbox.<hash>` and forwards messages published by
//! *other* instances into the local broker. Subjects carry a hash, never a
//! handle, so the NATS operator's logs don't reveal who gets mail (but with
//! `--nats-callout-identities` nats-server logs a refused identity's nkey,
//! its KEZ primary: SPEC §11.1); a stream
//! refills any gap from SQLite, so a lost NATS message only delays delivery
//! until the next one (or the client's reconnect).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Notify, mpsc, watch};

use crate::broker::{Broker, Ephemeral, LocalBroker, Subscription};
use crate::kez::Handle;
use crate::refmap::RefCountedMap;
use crate::store::{Seq, Store, StoredMessage};

mod connect;
mod stats;
mod wire;

pub use stats::NatsStats;
pub use wire::inbox_subject;
use wire::{decode_ephemeral, decode_message, subject_token};

/// Subject prefix of per-recipient inbox subjects.
pub const SUBJECT_PREFIX: &str = "kez.chat.inbox.";
/// The one wildcard each instance subscribes to.
pub const SUBJECT_WILDCARD: &str = "kez.chat.inbox.>";
/// Header naming the publishing instance, so it can ignore its own messages.
pub const INSTANCE_HEADER: &str = "Kez-Instance";
/// Header marking an ephemeral post (SPEC §7.7, §11): its value is
/// [`EPHEMERAL_EVENT`] and its payload the post itself, not a stored seq.
pub const EVENT_HEADER: &str = "Kez-Event";
/// The value of [`EVENT_HEADER`] on ephemeral posts.
pub const EPHEMERAL_EVENT: &str = "ephemeral";
/// Default depth of the queue from the writer thread to the bridge task.
pub const DEFAULT_QUEUE: usize = 1024;

/// First wait before retrying a failed connection; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// How long to wait for the SUB to be confirmed after a reconnect.
const RECONNECT_FLUSH: Duration = Duration::from_secs(5);
/// How long shutdown waits for already-queued publishes to reach NATS.
const FLUSH_ON_SHUTDOWN: Duration = Duration::from_secs(2);

/// Handles with a local subscriber, by subject token: how an incoming NATS
/// message (which carries only the hash) finds its local recipient. Each
/// subscription holds its token's entry.
type SubjectIndex = RefCountedMap<String, Handle>;

/// A message waiting to be published to NATS, with its share of the
/// local broker's carry budget (the queue is bounded in bytes too).
struct Outbound {
    subject: String,
    msg: Payload,
    _bytes: tokio::sync::OwnedSemaphorePermit,
}

/// What an inbox subject carries: a stored message's wake-up, or an
/// ephemeral post (SPEC §11).
enum Payload {
    Stored(Arc<StoredMessage>),
    Ephemeral(Arc<Ephemeral>),
}

/// The broker used when `--nats-url` is set: local delivery plus NATS.
pub struct NatsBroker {
    local: LocalBroker,
    index: SubjectIndex,
    domain: String,
    outbound: mpsc::Sender<Outbound>,
    stats: Arc<NatsStats>,
}

/// The background half of [`NatsBroker`]: owns the NATS connection.
pub struct NatsBridge {
    url: String,
    /// The instance token sent as CONNECT `auth_token` (SPEC §11 "Auth callout").
    token: Option<String>,
    /// This process's auth callout: the first connect waits for it (bounded).
    callout: Option<Arc<crate::nats::callout::CalloutStats>>,
    instance: String,
    local: LocalBroker,
    index: SubjectIndex,
    outbound: mpsc::Receiver<Outbound>,
    stats: Arc<NatsStats>,
}

impl NatsBroker {
    /// A broker for the server `domain` publishing through NATS at `url`,
    /// with up to `queue` messages waiting for the bridge, delivering here
    /// through `local`. Run the returned [`NatsBridge`] as a background task.
    pub fn new(url: &str, domain: &str, queue: usize, local: LocalBroker) -> (Self, NatsBridge) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let index = SubjectIndex::default();
        let stats = Arc::new(NatsStats::new());
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).expect("the OS random number generator is unavailable");
        let bridge = NatsBridge {
            url: url.to_owned(),
            token: None,
            callout: None,
            instance: hex::encode(id),
            local: local.clone(),
            index: index.clone(),
            outbound: rx,
            stats: stats.clone(),
        };
        let broker = Self {
            local,
            index,
            domain: domain.to_owned(),
            outbound: tx,
            stats,
        };
        (broker, bridge)
    }

    /// The shared counters and readiness signal.
    pub fn stats(&self) -> Arc<NatsStats> {
        self.stats.clone()
    }

    /// Queues `msg` (of about `bytes`) for the bridge, or drops it (counted)
    /// when the queue is full in messages or in bytes.
    fn enqueue(&self, handle: &Handle, msg: Payload, bytes: usize) {
        let Some(permit) = self.local.carry(bytes) else {
            self.stats.count_drop();
            return;
        };
        let subject = inbox_subject(&self.domain, handle.as_str());
        let out = Outbound {
            subject,
            msg,
            _bytes: permit,
        };
        if self.outbound.try_send(out).is_err() {
            self.stats.count_drop();
        }
    }
}

impl Broker for NatsBroker {
    fn publish(&self, handle: &Handle, msg: Arc<StoredMessage>) {
        self.local.publish(handle, msg.clone());
        // Called on the writer thread: never wait for the bridge.
        let bytes = crate::broker::carried_size(&msg.envelope, &msg.id);
        self.enqueue(handle, Payload::Stored(msg), bytes);
    }

    fn publish_ephemeral(&self, handle: &Handle, ev: Arc<Ephemeral>) {
        self.local.publish_ephemeral(handle, ev.clone());
        let bytes = crate::broker::carried_size(&ev.envelope, &ev.id);
        self.enqueue(handle, Payload::Ephemeral(ev), bytes);
    }

    fn subscribe(&self, handle: &Handle) -> Subscription {
        let sub = self.local.subscribe(handle);
        let guard = self
            .index
            .acquire(subject_token(&self.domain, handle.as_str()), || {
                handle.clone()
            });
        sub.also_holding(guard)
    }
}

/// Why a connected session ended.
enum SessionEnd {
    Shutdown,
    Lost(anyhow::Error),
}

impl NatsBridge {
    /// The same bridge connecting with the instance `token`, if any.
    #[must_use]
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// The same bridge, first connecting once `callout` (this process's auth
    /// callout) is ready or a few seconds passed: before it subscribed, a
    /// lone instance's CONNECT would wait out nats-server's `auth_timeout`.
    #[must_use]
    pub fn with_callout(
        mut self,
        callout: Option<Arc<crate::nats::callout::CalloutStats>>,
    ) -> Self {
        self.callout = callout;
        self
    }

    /// Connects (retrying with backoff until it works), subscribes to every
    /// inbox subject, then publishes queued messages and forwards other
    /// instances' messages until shutdown. async-nats reconnects a dropped
    /// connection by itself and re-subscribes; this loop only starts over if
    /// the client gives up. Takes `&mut self` so a supervisor can run the
    /// same bridge (and its queue) again after a run that panicked.
    pub async fn run(&mut self, store: Store, mut shutdown: watch::Receiver<bool>) {
        // Not ready until this run has subscribed (a panicked run may have left it set).
        self.stats.ready.send_replace(false);
        let mut backoff = FIRST_BACKOFF;
        // async-nats re-sends our SUB after a reconnect; the session flushes
        // on this signal before it reports ready again.
        let reconnected = Arc::new(Notify::new());
        tokio::select! {
            () = connect::wait_for_callout(self.callout.as_deref()) => {}
            _ = shutdown.changed() => return,
        }
        loop {
            let attempt = connect::options(self.token.as_deref(), &self.stats, &reconnected)
                .connect(self.url.as_str());
            let connected = tokio::select! {
                c = attempt => c,
                _ = shutdown.changed() => return,
            };
            let end = match connected {
                Ok(client) => {
                    tracing::info!(instance = %self.instance, "connected to NATS");
                    backoff = FIRST_BACKOFF;
                    let end = self
                        .session(&client, &store, &reconnected, &mut shutdown)
                        .await;
                    self.stats.ready.send_replace(false);
                    end
                }
                Err(e) => SessionEnd::Lost(e.into()),
            };
            match end {
                SessionEnd::Shutdown => return,
                SessionEnd::Lost(e) => tracing::warn!(
                    error.message = %e,
                    error.cause_chain = ?e,
                    retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                    hint = connect::auth_hint(&e),
                    "NATS unavailable; local delivery continues"
                ),
            }
            if self.drop_until(backoff, &mut shutdown).await {
                return;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Waits `pause` while discarding (and counting) queued messages, so the
    /// queue holds fresh messages when the connection comes back. True on shutdown.
    async fn drop_until(&mut self, pause: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
        let deadline = tokio::time::sleep(pause);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return false,
                m = self.outbound.recv() => match m {
                    Some(_) => self.stats.count_drop(),
                    None => return true,
                },
                _ = shutdown.changed() => return true,
            }
        }
    }

    async fn session(
        &mut self,
        client: &async_nats::Client,
        store: &Store,
        reconnected: &Notify,
        shutdown: &mut watch::Receiver<bool>,
    ) -> SessionEnd {
        let mut inbound = match client.subscribe(SUBJECT_WILDCARD).await {
            Ok(s) => s,
            Err(e) => return SessionEnd::Lost(e.into()),
        };
        // The SUB is only in place once the server answered a PING after it.
        if let Err(e) = client.flush().await {
            return SessionEnd::Lost(e.into());
        }
        self.stats.ready.send_replace(true);
        loop {
            tokio::select! {
                m = self.outbound.recv() => {
                    let Some(m) = m else { return SessionEnd::Shutdown };
                    tokio::select! {
                        r = self.publish(client, m) => if let Err(e) = r {
                            return SessionEnd::Lost(e);
                        },
                        _ = shutdown.changed() => break,
                    }
                }
                () = reconnected.notified() => {
                    if let Ok(Ok(())) = tokio::time::timeout(RECONNECT_FLUSH, client.flush()).await {
                        self.stats.ready.send_replace(true);
                    }
                }
                m = inbound.next() => match m {
                    Some(m) => self.forward(store, &m).await,
                    None => return SessionEnd::Lost(anyhow::anyhow!("NATS subscription closed")),
                },
                _ = shutdown.changed() => break,
            }
        }
        // Give what was already handed to the client a moment to leave.
        let _ = tokio::time::timeout(FLUSH_ON_SHUTDOWN, client.flush()).await;
        SessionEnd::Shutdown
    }

    async fn publish(&self, client: &async_nats::Client, m: Outbound) -> anyhow::Result<()> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(INSTANCE_HEADER, self.instance.as_str());
        let payload = match &m.msg {
            Payload::Stored(msg) => serde_json::to_vec(&**msg)?,
            Payload::Ephemeral(ev) => {
                headers.insert(EVENT_HEADER, EPHEMERAL_EVENT);
                serde_json::to_vec(&**ev)?
            }
        };
        match client
            .publish_with_headers(m.subject, headers, payload.into())
            .await
        {
            Ok(()) => {
                self.stats.published.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            // Only a closed client fails here (a disconnected one buffers).
            Err(e) => {
                self.stats.count_drop();
                Err(e.into())
            }
        }
    }

    /// Delivers a message from another instance to local streams, if any
    /// stream here waits for its recipient. The NATS payload only says
    /// *which* seq is new: the message itself is read from the shared
    /// database, so whoever can publish on NATS can wake streams but can
    /// never inject or replace a message.
    async fn forward(&self, store: &Store, m: &async_nats::Message) {
        let header = |name: &str| {
            m.headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(async_nats::HeaderValue::as_str)
        };
        if header(INSTANCE_HEADER) == Some(self.instance.as_str()) {
            return;
        }
        let Some(token) = m.subject.as_str().strip_prefix(SUBJECT_PREFIX) else {
            return;
        };
        let Some(handle) = self.index.get(token) else {
            return;
        };
        if header(EVENT_HEADER) == Some(EPHEMERAL_EVENT) {
            // Nothing stored to check it against (SPEC §11): clients open it
            // with every §8 check.
            match decode_ephemeral(&m.payload) {
                Ok(ev) => {
                    self.local.publish_ephemeral(&handle, Arc::new(ev));
                    self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!(error = %e, "ignoring a malformed NATS ephemeral post"),
            }
            return;
        }
        let (seq, before) = match decode_message(&m.payload) {
            Ok(msg) => (msg.seq, msg.seq.prev().unwrap_or(Seq::ZERO)),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a malformed NATS inbox message");
                return;
            }
        };
        match store
            .messages_after(handle.clone(), before, 1, usize::MAX)
            .await
        {
            Ok(mut found) if found.first().is_some_and(|f| f.seq == seq) => {
                let msg = found.swap_remove(0);
                self.local.publish(&handle, Arc::new(msg));
                self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => tracing::warn!("ignoring a NATS inbox message that is not in the database"),
            Err(e) => tracing::warn!(error = %e, "cannot read a forwarded message"),
        }
    }
}

#[cfg(test)]
mod tests;
