//! Reading a mailbox: signed polling and the live SSE stream.
//!
//! The stream subscribes to the broker *before* reading stored messages, then
//! replays, then goes live, skipping anything it already sent and filling any
//! hole (a lagged channel, an out-of-order wakeup) from the database, so there
//! is no gap and no duplicate across the switch.

mod budget;
mod registry;

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;

pub use budget::{
    ALL_STREAMS_BUFFER_BYTES, ByteBudget, NETWORK_SHARE_DIVISOR, STREAM_BUFFER_BYTES,
};
use budget::{EVENT_OVERHEAD, Outgoing, StreamBudget};
pub use registry::{StreamRegistry, StreamTicket};

use crate::auth::{authenticate, header_credential, query_credential};
use crate::broker::Ephemeral;
use crate::error::Result;
use crate::extract::{AppPath, AppQuery, ClientIp};
use crate::kez::{Handle, auth};
use crate::rate_limit::network_key;
use crate::state::AppState;
use crate::store::{Seq, StoredMessage};

/// Most messages per poll response or per replay query.
pub const PAGE_SIZE: usize = 500;
/// A poll page stops once its envelopes reach this many bytes (SPEC §7.3),
/// so a full mailbox of large envelopes can't make one response huge.
pub const POLL_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// The stream replays in smaller pages: each open stream holds one in memory
/// (at most this plus one envelope) besides its queued events.
pub const STREAM_PAGE_BYTES: usize = 256 * 1024;
/// The SSE comment every stream starts with (`: open`), sent at once.
pub const OPENED_COMMENT: &str = "open";
/// Most events queued between a stream's task and its connection; their
/// bytes are bounded by [`STREAM_BUFFER_BYTES`] and [`ALL_STREAMS_BUFFER_BYTES`].
const STREAM_BUFFER: usize = 16;

/// Routes owned by the inbox.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/inbox/{handle}", get(poll).delete(release))
        .route("/v1/inbox/{handle}/stream", get(stream))
}

/// The poll response, serialised directly so each stored envelope is
/// written verbatim (never re-parsed into a `serde_json::Value` tree).
#[derive(Serialize)]
struct PollResponse {
    messages: Vec<StoredMessage>,
    next: Option<Seq>,
    /// The mailbox's highest seq ever; `since` above it is a cursor ahead of
    /// the mailbox (SPEC §7.3), which the client rewinds to this.
    newest: Seq,
    /// How full the mailbox is, 0..=100 (the larger of its message and byte
    /// quota use): clients release what they have only under pressure (§7.5).
    used_percent: u8,
}

#[derive(Deserialize)]
struct PollQuery {
    since: Option<Seq>,
}

#[derive(Deserialize)]
struct ReleaseQuery {
    through: Seq,
}

#[derive(Deserialize)]
struct StreamQuery {
    auth: Option<String>,
    since: Option<Seq>,
}

/// # `GET /v1/inbox/{handle}?since=<seq>` with `X-Kez-Auth: <ts>:<sig>`
async fn poll(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
    AppQuery(q): AppQuery<PollQuery>,
    headers: HeaderMap,
) -> Result<Json<PollResponse>> {
    let since = q.since.unwrap_or(Seq::ZERO);
    let handle = authenticate(&state, &name, header_credential(&headers), |server, ts| {
        auth::poll_string(server, &name, since.get(), ts)
    })
    .await?;
    let page = state
        .store
        .page_after(handle, since, PAGE_SIZE, POLL_PAGE_BYTES)
        .await?;
    let next = page.messages.last().map(|m| m.seq);
    let used_percent = page.used_percent(&state.mailbox_limits());
    Ok(Json(PollResponse {
        messages: page.messages,
        next,
        newest: page.newest,
        used_percent,
    }))
}

/// # `DELETE /v1/inbox/{handle}?through=<seq>` with `X-Kez-Auth: <ts>:<sig>`
/// Deletes the handle's messages up to `through` (its devices have them)
/// and answers `{"deleted": <n>}`.
async fn release(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
    AppQuery(q): AppQuery<ReleaseQuery>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>> {
    let handle = authenticate(&state, &name, header_credential(&headers), |server, ts| {
        auth::release_string(server, &name, q.through.get(), ts)
    })
    .await?;
    let deleted = state.store.release_through(handle, q.through).await?;
    Ok(Json(serde_json::json!({ "deleted": deleted })))
}

/// # `GET /v1/inbox/{handle}/stream?auth=<ts>:<sig>[&since=<seq>]`
/// `Last-Event-ID` wins over `since`.
async fn stream(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
    AppQuery(q): AppQuery<StreamQuery>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<impl IntoResponse> {
    let cred = query_credential(q.auth.as_deref())?;
    let handle = authenticate(&state, &name, Some(cred), |server, ts| {
        auth::stream_string(server, &name, ts)
    })
    .await?;
    let mut since = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Seq::new)
        .or(q.since)
        .unwrap_or(Seq::ZERO);

    // Subscribe before the replay query so nothing published in between is lost.
    let subscription = state.broker.subscribe(&handle);
    let ticket = state.streams.open(handle.as_str());
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    let first = first_page(&state, &handle, &mut since, &tx).await?;
    let task = StreamTask {
        shutdown: state.shutdown.clone(),
        state: state.clone(),
        handle,
        last: since,
        tx,
        budget: state.streams.bytes.for_stream(network_key(ip)),
        ticket,
    };
    tokio::spawn(task.run(subscription, first));
    // A comment at once, so a buffering proxy (or a client waiting for the
    // first byte) sees the stream open before any event or keep-alive.
    let opened = tokio_stream::once(Ok(Event::default().comment(OPENED_COMMENT)));
    // Taking an event from the queue releases the bytes it held.
    let events = ReceiverStream::new(rx).map(|o: Box<Outgoing>| Ok::<_, Infallible>(o.event));
    let sse = Sse::new(opened.chain(events)).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(state.config.sse_keepalive_secs.max(1)))
            .text("keep-alive"),
    );
    crate::metrics::RequestCounters::bump(&state.counters.streams_opened);
    // nginx buffers proxied responses by default; this turns it off for the stream.
    Ok(([(HeaderName::from_static("x-accel-buffering"), "no")], sse))
}

/// The replay's first page after `since`, read together with the mailbox's
/// newest seq: one trip to the blocking pool per open instead of two
/// (issue 14, TODO #208). A cursor ahead of the mailbox (SPEC §7.4) gets
/// `event: reset` queued on `tx` and `since` moved back to the newest seq,
/// then `None`: the stream goes on from there with a fresh read.
async fn first_page(
    state: &AppState,
    handle: &Handle,
    since: &mut Seq,
    tx: &mpsc::Sender<Box<Outgoing>>,
) -> Result<Option<Vec<StoredMessage>>> {
    let page = state
        .store
        .page_after(handle.clone(), *since, PAGE_SIZE, STREAM_PAGE_BYTES)
        .await?;
    if *since > page.newest {
        // The channel is empty, so this never waits.
        let _ = tx.try_send(Box::new(Outgoing::control(reset_event(page.newest))));
        *since = page.newest;
        return Ok(None);
    }
    Ok(Some(page.messages))
}

/// `event: reset`: the client's cursor was above the mailbox's newest seq;
/// its `id` moves the client's `Last-Event-ID` back to that seq.
fn reset_event(newest: Seq) -> Event {
    Event::default()
        .event("reset")
        .id(newest.to_string())
        .data(format!(r#"{{"newest":{newest}}}"#))
}

/// Why a stream task stopped early.
enum Stop {
    /// The client went away, stopped reading, or the server is stopping.
    ClientGone,
    /// A newer stream of the same handle took this one's slot.
    Displaced,
    Failed,
}

struct StreamTask {
    state: AppState,
    handle: Handle,
    last: Seq,
    /// Boxed: the channel allocates a block of 32 slots up front, so each
    /// open stream holds 32 pointers rather than 32 events (issue 14).
    tx: mpsc::Sender<Box<Outgoing>>,
    /// What this stream may hold queued, in bytes.
    budget: StreamBudget,
    ticket: StreamTicket,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl StreamTask {
    /// Replays, then forwards live events until the client goes, the stream
    /// is displaced or the server stops. The replay and send futures are
    /// boxed: they are the largest states of this future, which otherwise
    /// every idle stream would hold in its task (about 2 KB, issue 14).
    /// `first` is the replay's first page when the handler already read it.
    async fn run(
        mut self,
        mut sub: crate::broker::Subscription,
        first: Option<Vec<StoredMessage>>,
    ) {
        let mut stop = Box::pin(self.catch_up(first)).await;
        while stop.is_ok() {
            tokio::select! {
                received = sub.receiver.recv() => {
                    stop = match received {
                        Ok(m) if m.seq <= self.last => Ok(()),
                        Ok(m) if Some(m.seq) == self.last.next() => Box::pin(self.send(&m)).await,
                        // A hole (or a lag): the database has everything up to m.
                        Ok(_) | Err(RecvError::Lagged(_)) => Box::pin(self.catch_up(None)).await,
                        Err(RecvError::Closed) => Err(Stop::ClientGone),
                    };
                }
                received = sub.ephemeral.recv() => {
                    stop = match received {
                        Ok(ev) => self.send_ephemeral(&ev),
                        // Best effort (SPEC §7.7): lost ones are not replayed.
                        Err(RecvError::Lagged(_)) => Ok(()),
                        Err(RecvError::Closed) => Err(Stop::ClientGone),
                    };
                }
                _ = &mut self.ticket.closed => stop = Err(Stop::Displaced),
                _ = self.shutdown.changed() => stop = Err(Stop::ClientGone),
                () = self.tx.closed() => stop = Err(Stop::ClientGone),
            }
        }
        if let Err(Stop::Displaced) = stop {
            // Best effort and never waiting: a client that reads gets told why.
            let _ = self.tx.try_send(Box::new(Outgoing::control(
                Event::default()
                    .event("close")
                    .data(r#"{"reason":"stream_limit"}"#),
            )));
        }
    }

    /// Sends every stored message after `last`, page by page, starting
    /// with `first` when that page was already read.
    async fn catch_up(
        &mut self,
        mut first: Option<Vec<StoredMessage>>,
    ) -> std::result::Result<(), Stop> {
        loop {
            let page = match first.take() {
                Some(page) => page,
                None => self
                    .state
                    .store
                    .messages_after(self.handle.clone(), self.last, PAGE_SIZE, STREAM_PAGE_BYTES)
                    .await
                    .map_err(|e| {
                        tracing::warn!(error = %e, "stream replay failed");
                        Stop::Failed
                    })?,
            };
            // A page is cut short by count or by bytes; only a page short on
            // both counts proves the end was reached.
            let bytes: usize = page.iter().map(|m| m.envelope.get().len()).sum();
            let more = page.len() == PAGE_SIZE || bytes >= STREAM_PAGE_BYTES;
            // By value: each envelope is freed once its event is queued.
            for m in page {
                self.send(&m).await?;
            }
            if !more {
                return Ok(());
            }
        }
    }

    /// Queues an ephemeral post (SPEC §7.4, §7.7) if it fits at once, as
    /// `event: ephemeral` without an `id:` line, so `Last-Event-ID` and
    /// `last` stay the last stored seq; dropped when there is no room.
    fn send_ephemeral(&self, ev: &Ephemeral) -> std::result::Result<(), Stop> {
        let data = serde_json::to_string(ev).map_err(|_| Stop::Failed)?;
        let cost = data.len() + EVENT_OVERHEAD;
        let Some(reserved) = self.state.streams.bytes.try_reserve(&self.budget, cost) else {
            return Ok(());
        };
        let event = Event::default().event("ephemeral").data(data);
        match self.tx.try_send(Box::new(Outgoing {
            event,
            _reserved: Some(reserved),
        })) {
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Stop::ClientGone),
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => Ok(()),
        }
    }

    async fn send(&mut self, m: &StoredMessage) -> std::result::Result<(), Stop> {
        let data = serde_json::to_string(m).map_err(|_| Stop::Failed)?;
        let cost = data.len() + EVENT_OVERHEAD;
        let event = Event::default()
            .event("message")
            .id(m.seq.to_string())
            .data(data);
        let (tx, budget, all) = (&self.tx, &self.budget, &self.state.streams.bytes);
        let queue = async move {
            let reserved = all.reserve(budget, cost).await;
            tx.send(Box::new(Outgoing {
                event,
                _reserved: Some(reserved),
            }))
            .await
        };
        tokio::select! {
            // A client that reads nothing for `--write-timeout-secs` while an
            // event waits (for room in the queue or in the byte budgets)
            // loses its stream (it resumes with `Last-Event-ID`); the
            // connection's own write timeout then frees what was buffered.
            sent = tokio::time::timeout(self.state.config.write_timeout(), queue) => match sent {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Stop::ClientGone),
                Err(_) => {
                    tracing::debug!("stream client stopped reading; closing its stream");
                    return Err(Stop::ClientGone);
                }
            },
            _ = &mut self.ticket.closed => return Err(Stop::Displaced),
            _ = self.shutdown.changed() => return Err(Stop::ClientGone),
        }
        self.last = m.seq;
        Ok(())
    }
}
