//! Operational figures in the Prometheus/OpenMetrics text format, served on a
//! separate listener (`--metrics-bind`) so they never sit behind the public
//! proxy. Only counts: no handle, key or endpoint ever becomes a label.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::state::AppState;

/// Most simultaneous connections to the metrics listener (scrapers are
/// few); more wait in the backlog.
pub const MAX_CONNECTIONS: usize = 8;

/// Counters bumped by handlers (others are read from their owners at scrape time).
#[derive(Debug, Default)]
pub struct RequestCounters {
    /// Handles registered.
    pub registrations: AtomicU64,
    /// Messages newly stored (retries of a stored id excluded).
    pub messages_stored: AtomicU64,
    /// SSE streams opened (answered 200), on either connection path.
    pub streams_opened: AtomicU64,
    /// Of those, the ones served off hyper (`server::direct`, TODO #205).
    pub streams_opened_direct: AtomicU64,
}

impl RequestCounters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Background tasks that ended before shutdown (returned or panicked), by
/// task name: `kez_background_task_exits_total{task="…"}`. Cheap to clone
/// (clones share the counts).
#[derive(Clone, Debug, Default)]
pub struct TaskExits(Family<[(&'static str, &'static str); 1], Counter>);

impl TaskExits {
    /// Lists `task` with a count of 0, so a healthy task shows up too.
    pub fn track(&self, task: &'static str) {
        let _ = self.0.get_or_create(&[("task", task)]);
    }

    /// Counts one early end of `task`.
    pub fn count(&self, task: &'static str) {
        self.0.get_or_create(&[("task", task)]).inc();
    }

    /// Early ends of `task` so far (reading never adds a series).
    pub fn get(&self, task: &'static str) -> u64 {
        self.0.get(&[("task", task)]).map_or(0, |c| c.get())
    }
}

/// The bound metrics socket. Each [`serve`] run listens on a duplicate of
/// it, so a run that ended early can be started again on the same port.
#[derive(Debug)]
pub struct MetricsListener(std::net::TcpListener);

impl MetricsListener {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.0.local_addr().ok()
    }
}

/// Binds the metrics listener; `None` when `--metrics-bind` is unset.
pub async fn bind(state: &AppState) -> anyhow::Result<Option<MetricsListener>> {
    let Some(addr) = state.config.metrics_bind else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for metrics on {addr}"))?;
    // Stays non-blocking, as `TcpListener::from_std` needs it.
    Ok(Some(MetricsListener(listener.into_std()?)))
}

/// Serves `GET /metrics` until shutdown.
pub async fn serve(listener: &MetricsListener, state: AppState, shutdown: watch::Receiver<bool>) {
    let listener = match listener.0.try_clone().and_then(TcpListener::from_std) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for metrics");
            return;
        }
    };
    // The public listener's loop: its header and write timeouts, a small
    // connection cap, and a bounded wait for open connections at shutdown.
    let opts = crate::server::ServeOptions {
        header_timeout: state.config.header_timeout(),
        write_timeout: state.config.write_timeout(),
        max_connections: MAX_CONNECTIONS,
        max_per_ip: None,
        trusted_proxies: None,
        direct: None,
    };
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(state);
    crate::server::serve(listener, app, opts, shutdown).await;
}

/// # `GET /metrics` (metrics listener only)
async fn metrics(State(state): State<AppState>) -> Response {
    let mut res = render(&state).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    res
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g = Gauge::<i64>::default();
    g.set(value);
    registry.register(name, help, g);
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Registers one counter per `(name, help, value)`, in order.
fn counters(registry: &mut Registry, rows: &[(&str, &str, u64)]) {
    for &(name, help, value) in rows {
        counter(registry, name, help, value);
    }
}

/// A snapshot of every figure, encoded as OpenMetrics text.
pub fn render(state: &AppState) -> String {
    let mut registry = Registry::with_prefix("kez");
    let r = &mut registry;
    store_metrics(r, state);
    stream_metrics(r, state);
    push_metrics(r, state);
    task_metrics(r, state);
    state.proofs.register_metrics(r);
    if let Some(nats) = &state.nats {
        nats_metrics(r, nats);
    }
    if let Some(callout) = &state.callout {
        callout.register_metrics(r);
    }
    if let Some(nostr) = &state.nostr {
        nostr_metrics(r, &nostr.stats, &state.push.stats());
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Registrations, stored messages and the database writer.
fn store_metrics(r: &mut Registry, state: &AppState) {
    let writer = state.store.writer_stats();
    counters(
        r,
        &[
            (
                "registrations",
                "Handles registered",
                load(&state.counters.registrations),
            ),
            (
                "messages_stored",
                "Messages newly stored",
                load(&state.counters.messages_stored),
            ),
            (
                "db_commits",
                "Write transactions committed (one fsync each)",
                load(&writer.commits),
            ),
            (
                "db_write_jobs",
                "Write jobs carried by those commits",
                load(&writer.jobs),
            ),
        ],
    );
}

/// Live streams, disk space and rate-limit buckets.
fn stream_metrics(r: &mut Registry, state: &AppState) {
    counters(
        r,
        &[
            (
                "streams_opened",
                "SSE streams opened (answered 200), on either connection path",
                load(&state.counters.streams_opened),
            ),
            (
                "streams_opened_direct",
                "SSE streams opened on a fresh connection and served off hyper's \
                 per-connection buffers (src/server/direct, issue 14): the rest of \
                 streams_opened rode hyper; tells whether clients reach the lean path",
                load(&state.counters.streams_opened_direct),
            ),
        ],
    );
    gauge(
        r,
        "streams_open",
        "Live SSE streams",
        to_i64(state.streams.total_open()),
    );
    gauge(
        r,
        "stream_tasks",
        "SSE stream tasks still running, displaced ones included",
        i64::try_from(state.streams.live_tasks()).unwrap_or(i64::MAX),
    );
    gauge(
        r,
        "disk_low",
        "1 while free disk space is under --min-free-disk-mb (new messages refused)",
        i64::from(state.disk.low()),
    );
    gauge(
        r,
        "rate_limit_tracked_addresses",
        "Client networks with a rate-limit bucket (all classes)",
        to_i64(
            state.message_limiter.tracked_keys()
                + state.silent_limiter.tracked_keys()
                + state.ephemeral_limiter.tracked_keys()
                + state.register_limiter.tracked_keys()
                + state.push_limiter.tracked_keys()
                + state.profile_limiter.tracked_keys(),
        ),
    );
}

/// The push queue's counters.
fn push_metrics(r: &mut Registry, state: &AppState) {
    let push = state.push.stats();
    counters(
        r,
        &[
            ("push_queued", "Push notifications queued", push.queued),
            (
                "push_coalesced",
                "Push notifications folded into one already due",
                push.coalesced,
            ),
            (
                "push_dropped",
                "Push notifications dropped (queue full)",
                push.dropped,
            ),
            (
                "push_delivered",
                "Pushes accepted by push services",
                push.delivered,
            ),
            (
                "push_retried",
                "Push tries repeated after 429/5xx/network errors",
                push.retried,
            ),
            (
                "push_removed",
                "Subscriptions removed after 404/410",
                push.removed,
            ),
            ("push_failed", "Pushes given up on", push.failed),
        ],
    );
}

/// Background tasks that ended early, by task.
fn task_metrics(r: &mut Registry, state: &AppState) {
    r.register(
        "background_task_exits",
        "Background tasks that ended before shutdown (returned or panicked), by task",
        state.task_exits.0.clone(),
    );
}

/// The NATS bridge's counters, with `--nats-url`.
fn nats_metrics(r: &mut Registry, nats: &crate::nats::fanout::NatsStats) {
    counters(
        r,
        &[
            (
                "nats_published",
                "Messages published to NATS",
                load(&nats.published),
            ),
            (
                "nats_dropped",
                "Messages not sent to NATS",
                load(&nats.dropped),
            ),
            (
                "nats_forwarded",
                "Messages from other instances delivered here",
                load(&nats.forwarded),
            ),
        ],
    );
    gauge(
        r,
        "nats_ready",
        "1 when the NATS bridge is connected and subscribed",
        i64::from(nats.is_ready()),
    );
}

/// The nostr listener's counters (SPEC §12), with `--nostr-relays`: one
/// `nostr_events_rejected_<code>` per refusal reason (SPEC §12's codes,
/// `unknown_addr`, `not_envelope`), and the pushes nostr caused that were
/// sent or dropped, apart from the events accepted.
fn nostr_metrics(r: &mut Registry, s: &crate::nostr::NostrStats, push: &crate::push::PushStats) {
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
