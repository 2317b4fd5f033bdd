//! A stream's task: replays what is stored after the client's cursor, page
//! by page, then forwards live events, each counted in the byte budgets
//! (SPEC §7.4) from the moment it is read until it is written.

use std::time::Duration;

use axum::response::sse::Event;
use tokio::sync::{broadcast::error::RecvError, mpsc, oneshot, watch};

use super::budget::{EVENT_OVERHEAD, Outgoing, Reserved, StreamBudget};
use super::{PAGE_SIZE, STREAM_PAGE_BYTES, StreamTicket};
use crate::broker::{Ephemeral, Live};
use crate::kez::Handle;
use crate::messages::MAX_ENVELOPE_BYTES;
use crate::state::AppState;
use crate::store::{Seq, StoredMessage};

/// Bytes a message adds around its envelope in an event or a poll answer,
/// at most: `seq`, `id` (≤ 64), `received_at`, keys, SSE fields.
const MESSAGE_WRAP: usize = 256;

/// The most a page read with `page_bytes` may cost before its exact cost
/// is known: its envelopes up to `page_bytes`, the one that crossed it, and
/// each message's wrapping.
pub(super) const fn page_bound(page_bytes: usize) -> usize {
    page_bytes + MAX_ENVELOPE_BYTES + PAGE_SIZE * MESSAGE_WRAP
}

/// What `data` costs in an SSE event: SSE starts a `data: ` line at each
/// line break, so data of line breaks costs up to 7 bytes per byte.
fn sse_cost(data: &[u8]) -> usize {
    let breaks = data.iter().filter(|&&b| b == b'\n' || b == b'\r').count();
    data.len() + 6 * breaks + EVENT_OVERHEAD
}

/// What `m` costs as an SSE event, at most (its envelope's cost plus the
/// message's wrapping), known before the event is built.
pub(super) fn event_cost(m: &StoredMessage) -> usize {
    sse_cost(m.envelope.get().as_bytes()) + MESSAGE_WRAP
}

/// A page read for the replay with the bytes reserved for it.
pub(super) struct Page {
    pub(super) messages: Vec<StoredMessage>,
    pub(super) reserved: Reserved,
}

/// Why a stream task stopped early.
enum Stop {
    /// The client went away, stopped reading, or the server is stopping.
    ClientGone,
    /// A newer stream of the same handle took this one's slot.
    Displaced,
    Failed,
}

pub(super) struct StreamTask {
    pub(super) state: AppState,
    pub(super) handle: Handle,
    pub(super) last: Seq,
    /// Boxed: the channel allocates a block of 32 slots up front, so each
    /// open stream holds 32 pointers rather than 32 events (issue 14).
    pub(super) tx: mpsc::Sender<Box<Outgoing>>,
    /// What this stream may hold queued, in bytes.
    pub(super) budget: StreamBudget,
    pub(super) ticket: StreamTicket,
    pub(super) shutdown: tokio::sync::watch::Receiver<bool>,
}

impl StreamTask {
    /// Replays, then forwards live events until the client goes, the stream
    /// is displaced or the server stops. The replay and send futures are
    /// boxed: they are the largest states of this future, which otherwise
    /// every idle stream would hold in its task (about 2 KB, issue 14).
    /// `first` is the replay's first page when the handler already read it.
    pub(super) async fn run(mut self, mut sub: crate::broker::Subscription, first: Option<Page>) {
        let mut stop = Box::pin(self.catch_up(first)).await;
        while stop.is_ok() {
            tokio::select! {
                received = sub.receiver.recv() => {
                    stop = match received {
                        Ok(Live::Message(m)) if m.seq <= self.last => Ok(()),
                        Ok(Live::Message(m)) if Some(m.seq) == self.last.next() => {
                            Box::pin(self.send(&m, None)).await
                        }
                        Ok(Live::Wake(seq)) if seq <= self.last => Ok(()),
                        // A hole, a lag, or a message the fan-out had no room
                        // to carry: the database has everything up to it.
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
    /// with `first` when that page was already read. Each page's bytes
    /// are reserved before it is read (its network's share may make it
    /// wait, like an event), and its events take their part of them.
    async fn catch_up(&mut self, mut first: Option<Page>) -> std::result::Result<(), Stop> {
        loop {
            let Page {
                messages,
                mut reserved,
            } = match first.take() {
                Some(page) => page,
                None => self.read_page().await?,
            };
            // A page is cut short by count or by bytes; only a page short on
            // both counts proves the end was reached.
            let bytes: usize = messages.iter().map(|m| m.envelope.get().len()).sum();
            let more = messages.len() == PAGE_SIZE || bytes >= STREAM_PAGE_BYTES;
            // By value: each envelope is freed once its event is queued.
            for m in messages {
                self.send(&m, Some(&mut reserved)).await?;
            }
            if !more {
                return Ok(());
            }
        }
    }

    /// The next page after `last`, its bytes reserved first and then held
    /// to what it costs.
    async fn read_page(&mut self) -> std::result::Result<Page, Stop> {
        let all = self.state.streams.bytes.clone();
        let mut want = page_bound(STREAM_PAGE_BYTES);
        loop {
            let reserve = all.reserve_page(&self.budget, want);
            let (wait, ticket, stop) = (
                self.state.config.write_timeout(),
                &mut self.ticket.closed,
                &mut self.shutdown,
            );
            let mut reserved = bounded(wait, ticket, stop, reserve).await?;
            let messages = self
                .state
                .store
                .messages_after(self.handle.clone(), self.last, PAGE_SIZE, STREAM_PAGE_BYTES)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "stream replay failed");
                    Stop::Failed
                })?;
            let cost: usize = messages.iter().map(event_cost).sum();
            // Costlier than reserved (envelopes full of line breaks): both
            // go, and the page is read again once its whole cost fits, so
            // nothing uncounted waits meanwhile. A cost above the network's
            // share is reserved as the share (the events then wait per event).
            if cost > reserved.bytes() && want < all.network_share() {
                want = cost;
                continue;
            }
            reserved.shrink_to(cost);
            return Ok(Page { messages, reserved });
        }
    }

    /// Queues an ephemeral post (SPEC §7.4, §7.7) if it fits at once, as
    /// `event: ephemeral` without an `id:` line, so `Last-Event-ID` and
    /// `last` stay the last stored seq; dropped when there is no room.
    fn send_ephemeral(&self, ev: &Ephemeral) -> std::result::Result<(), Stop> {
        let data = serde_json::to_string(ev).map_err(|_| Stop::Failed)?;
        let cost = sse_cost(data.as_bytes());
        let Some(reserved) = self.state.streams.bytes.try_reserve(&self.budget, cost) else {
            return Ok(());
        };
        let event = Event::default().event("ephemeral").data(data);
        match self.tx.try_send(Box::new(Outgoing {
            event,
            reserved: Some(reserved),
        })) {
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Stop::ClientGone),
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => Ok(()),
        }
    }

    /// Queues `m` once its bytes fit: its network's and the process-wide
    /// part from `page` when it comes from one, else reserved now, and the
    /// stream's own part (only this stream's reader frees that).
    async fn send(
        &mut self,
        m: &StoredMessage,
        page: Option<&mut Reserved>,
    ) -> std::result::Result<(), Stop> {
        let cost = event_cost(m);
        // From the page's reservation; a page that cost more than it held
        // (envelopes full of line breaks) lets the rest go first, so this
        // stream never waits while holding bytes others may wait for.
        let shared = page.and_then(|p| {
            let part = p.take(cost);
            if part.is_none() {
                p.shrink_to(0);
            }
            part
        });
        let (tx, budget, all) = (&self.tx, &self.budget, &self.state.streams.bytes);
        let queue = async move {
            let reserved = match shared {
                Some(shared) => super::ByteBudget::add_own(budget, cost, shared).await,
                None => all.reserve(budget, cost).await,
            };
            // Built once its bytes are counted: a stream waiting for room
            // holds no event the budgets do not see.
            let data = serde_json::to_string(m).map_err(|_| Stop::Failed)?;
            let event = Event::default()
                .event("message")
                .id(m.seq.to_string())
                .data(data);
            let queued = Outgoing {
                event,
                reserved: Some(reserved),
            };
            tx.send(Box::new(queued))
                .await
                .map_err(|_| Stop::ClientGone)
        };
        let (wait, ticket, stop) = (
            self.state.config.write_timeout(),
            &mut self.ticket.closed,
            &mut self.shutdown,
        );
        bounded(wait, ticket, stop, queue).await??;
        self.last = m.seq;
        Ok(())
    }
}

/// `fut`, unless the client reads nothing for `wait` (`--write-timeout-secs`)
/// meanwhile (it resumes with `Last-Event-ID`; the connection's own write
/// timeout then frees what was buffered), the stream is displaced
/// (`displaced` fires) or the server stops.
async fn bounded<T>(
    wait: Duration,
    displaced: &mut oneshot::Receiver<()>,
    shutdown: &mut watch::Receiver<bool>,
    fut: impl std::future::Future<Output = T>,
) -> std::result::Result<T, Stop> {
    tokio::select! {
        done = tokio::time::timeout(wait, fut) => done.map_err(|_| {
            tracing::debug!("stream client stopped reading; closing its stream");
            Stop::ClientGone
        }),
        _ = displaced => Err(Stop::Displaced),
        _ = shutdown.changed() => Err(Stop::ClientGone),
    }
}
