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
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::state::AppState;

mod figures;
mod nostr;
mod registry;

use figures::{nats_metrics, push_metrics, store_metrics, stream_metrics, task_metrics};
use nostr::nostr_metrics;

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
