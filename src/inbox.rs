//! Reading a mailbox: signed polling and the live SSE stream.
//!
//! The stream subscribes to the broker *before* reading stored messages, then
//! replays, then goes live, skipping anything it already sent and filling any
//! hole (a lagged channel, an out-of-order wakeup) from the database, so there
//! is no gap and no duplicate across the switch.

mod budget;
mod hold;
mod registry;
mod shed;
mod task;

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use budget::Outgoing;
pub use budget::{
    ALL_STREAMS_BUFFER_BYTES, ByteBudget, NETWORK_SHARE_DIVISOR, Reserved, STREAM_BUFFER_BYTES,
};
pub use registry::{StreamRegistry, StreamTicket};
pub use shed::{CloseConnection, SLOW_AFTER};
use task::{Page, StreamTask, page_bound};

use crate::auth::{authenticate, header_credential, query_credential};
use crate::error::{AppError, Result};
use crate::extract::{AppPath, AppQuery, ClientIp};
use crate::kez::{Handle, auth};
use crate::rate_limit::network_key;
use crate::state::AppState;
use crate::store::{Seq, StoredMessage};

/// Most messages per poll response or per replay query.
pub const PAGE_SIZE: usize = 500;
/// A poll page stops once its envelopes reach this many bytes (SPEC §7.3),
/// so a full mailbox of large envelopes can't make one response huge; the
/// answer holds its bytes of its network's budget until written (§7.4).
pub const POLL_PAGE_BYTES: usize = 512 * 1024;
/// The stream replays in smaller pages: each open stream holds one in memory
/// (at most this plus one envelope) besides its queued events.
pub const STREAM_PAGE_BYTES: usize = 256 * 1024;
/// The most a stream's replay page holds of its network's share and of
/// the process-wide budget before its events are queued (SPEC §7.4).
pub const STREAM_PAGE_BOUND: usize = page_bound(STREAM_PAGE_BYTES);
/// The SSE comment every stream starts with (`: open`), sent at once.
pub const OPENED_COMMENT: &str = "open";
/// Most events queued between a stream's task and its connection; their
/// bytes are bounded by [`STREAM_BUFFER_BYTES`] and [`ALL_STREAMS_BUFFER_BYTES`].
const STREAM_BUFFER: usize = 16;

/// Routes owned by the inbox.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/inbox/{handle}", get(poll).delete(release))
        .route("/v1/inbox/{handle}/stream", get(stream).head(stream_head))
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
    through: Option<Seq>,
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
    ClientIp(ip): ClientIp,
    close: Option<Extension<CloseConnection>>,
    headers: HeaderMap,
) -> Result<Response> {
    let since = q.since.unwrap_or(Seq::ZERO);
    let handle = authenticate(&state, &name, header_credential(&headers), |server, ts| {
        auth::poll_string(server, &name, since.get(), ts)
    })
    .await?;
    // Reserved before the read, so answers waiting for slow readers cannot
    // pin more than the network's share of the budget (SPEC §7.3).
    let mut reserved = state
        .streams
        .bytes
        .reserve_answer(
            network_key(ip),
            page_bound(POLL_PAGE_BYTES),
            close.map(|Extension(c)| c),
        )
        .await
        .ok_or_else(|| {
            AppError::too_many_requests(
                "busy",
                "this network's answers and streams are holding all the bytes they may; retry in a moment",
                1,
            )
        })?;
    let page = state
        .store
        .page_after(handle, since, PAGE_SIZE, POLL_PAGE_BYTES)
        .await?;
    let next = page.messages.last().map(|m| m.seq);
    let used_percent = page.used_percent(&state.mailbox_limits());
    let body = serde_json::to_vec(&PollResponse {
        messages: page.messages,
        next,
        newest: page.newest,
        used_percent,
    })
    .map_err(AppError::internal)?;
    reserved.shrink_to(body.len());
    let mut res = Response::new(Body::from(reserved.hold(Bytes::from(body))));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(res)
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
    let through = q
        .through
        .ok_or_else(|| AppError::invalid_query("the query parameter `through` is required"))?;
    let handle = authenticate(&state, &name, header_credential(&headers), |server, ts| {
        auth::release_string(server, &name, through.get(), ts)
    })
    .await?;
    let deleted = state.store.release_through(handle, through).await?;
    Ok(Json(serde_json::json!({ "deleted": deleted })))
}

/// # `GET /v1/inbox/{handle}/stream?auth=<ts>:<sig>[&since=<seq>]`
/// `Last-Event-ID` wins over `since`.
async fn stream(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
    AppQuery(q): AppQuery<StreamQuery>,
    ClientIp(ip): ClientIp,
    close: Option<Extension<CloseConnection>>,
    headers: HeaderMap,
) -> Result<impl IntoResponse> {
    let (handle, mut since) = stream_checks(&state, &name, &q, &headers).await?;

    // Subscribe before the replay query so nothing published in between is lost.
    let subscription = state.broker.subscribe(&handle);
    let ticket = state.streams.open(handle.as_str());
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    let budget = state
        .streams
        .bytes
        .for_stream(network_key(ip), close.map(|Extension(c)| c));
    let page = state
        .streams
        .bytes
        .try_reserve_page(&budget, STREAM_PAGE_BOUND);
    let first = first_page(&state, &handle, &mut since, &tx, page).await?;
    let task = StreamTask {
        shutdown: state.shutdown.clone(),
        state: state.clone(),
        handle,
        last: since,
        tx,
        budget,
        ticket,
    };
    tokio::spawn(task.run(subscription, first));
    // A comment at once, so a buffering proxy (or a client waiting for the
    // first byte) sees the stream open before any event or keep-alive.
    let keep_alive = Duration::from_secs(state.config.sse_keepalive_secs.max(1));
    let mut res = hold::response(
        Event::default().comment(OPENED_COMMENT),
        rx,
        keep_alive,
        "keep-alive",
    );
    crate::metrics::RequestCounters::bump(&state.counters.streams_opened);
    // nginx buffers proxied responses by default; this turns it off for the stream.
    res.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(res)
}

/// # `HEAD /v1/inbox/{handle}/stream?auth=<ts>:<sig>[&since=<seq>]`
/// The checks of a stream open (signature, handle, `Last-Event-ID`) and
/// the head it would answer with (SPEC §7.4), but no stream: nothing is
/// subscribed, registered, read or counted. axum would otherwise run
/// [`stream`] for a HEAD and drop only the body.
async fn stream_head(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
    AppQuery(q): AppQuery<StreamQuery>,
    headers: HeaderMap,
) -> Result<Response> {
    stream_checks(&state, &name, &q, &headers).await?;
    let events = futures_util::stream::empty::<Result<Event, std::convert::Infallible>>();
    let (mut parts, _) = axum::response::Sse::new(events)
        .into_response()
        .into_parts();
    parts.headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(Response::from_parts(parts, Body::empty()))
}

/// What a stream open and its `HEAD` check alike: the signature for
/// `name` (SPEC §7.4), then the cursor (`Last-Event-ID` over `since`, 0).
async fn stream_checks(
    state: &AppState,
    name: &str,
    q: &StreamQuery,
    headers: &HeaderMap,
) -> Result<(Handle, Seq)> {
    let cred = query_credential(q.auth.as_deref())?;
    let handle = authenticate(state, name, Some(cred), |server, ts| {
        auth::stream_string(server, name, ts)
    })
    .await?;
    let since = last_event_id(headers)?.or(q.since).unwrap_or(Seq::ZERO);
    Ok((handle, since))
}

/// The `Last-Event-ID` header as a seq; absent or empty: none (SPEC §7.4).
/// Anything else that is not a seq is refused rather than ignored, which
/// would have replayed the whole mailbox from `since` or 0.
fn last_event_id(headers: &HeaderMap) -> Result<Option<Seq>> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value.to_str().map(str::trim).unwrap_or("-");
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u64>().map(|n| Some(Seq::new(n))).map_err(|_| {
        AppError::bad_request(
            "invalid_last_event_id",
            "Last-Event-ID must be a seq: decimal digits, at most 2^64-1",
        )
    })
}

/// The replay's first page after `since`, read together with the mailbox's
/// newest seq: one trip to a reader per open instead of two (issue 14, TODO
/// #208). Without `reserved` (its network's share is spent, SPEC §7.4)
/// only the newest seq is read, and the task reads the page once it may. A
/// cursor ahead of the mailbox gets `event: reset` queued on `tx` and
/// `since` moved back to the newest seq, and the (empty) page after it: the
/// stream goes on from there, and what came since the read comes live (it
/// subscribed first), with no second read.
async fn first_page(
    state: &AppState,
    handle: &Handle,
    since: &mut Seq,
    tx: &mpsc::Sender<Box<Outgoing>>,
    reserved: Option<Reserved>,
) -> Result<Option<Page>> {
    let limit = if reserved.is_some() { PAGE_SIZE } else { 0 };
    let page = state
        .store
        .page_after(handle.clone(), *since, limit, STREAM_PAGE_BYTES)
        .await?;
    if *since > page.newest {
        // The channel is empty, so this never waits.
        let _ = tx.try_send(Box::new(Outgoing::control(reset_event(page.newest))));
        *since = page.newest;
        return Ok(reserved.map(|mut reserved| {
            reserved.shrink_to(0);
            Page {
                messages: Vec::new(),
                reserved,
            }
        }));
    }
    // A page costlier than reserved (envelopes full of line breaks) is left
    // to the task, which reads it again once its whole cost fits.
    let cost: usize = page.messages.iter().map(task::event_cost).sum();
    Ok(reserved.filter(|r| cost <= r.bytes()).map(|mut reserved| {
        reserved.shrink_to(cost);
        Page {
            messages: page.messages,
            reserved,
        }
    }))
}

/// `event: reset`: the client's cursor was above the mailbox's newest seq;
/// its `id` moves the client's `Last-Event-ID` back to that seq.
fn reset_event(newest: Seq) -> Event {
    Event::default()
        .event("reset")
        .id(newest.to_string())
        .data(format!(r#"{{"newest":{newest}}}"#))
}
