//! The direct path for `GET /v1/inbox/{handle}/stream` on a fresh
//! connection (issue 14, TODO #205). hyper keeps an 8 KiB read and an
//! 8 KiB write buffer (no setting goes lower) plus its connection state on
//! every connection for as long as it is open: about half of what an idle
//! stream cost. Here a connection's first request head is read into a
//! small temporary buffer; a plain stream open is handed to the same
//! router (every middleware applies) and its event stream written straight
//! to the socket, frame by frame, with nothing buffered while idle.
//! Anything else, and any unusual head, goes to hyper with the bytes
//! already read put back, so hyper gives its usual answers.

mod batch;
mod head;
mod response;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::server::graceful::Watcher;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::ServiceExt as _;

use super::conn::Hyper;
use super::rewind::Rewind;
use crate::metrics::RequestCounters;

/// What the direct path needs besides hyper's handoff.
pub(super) struct Direct {
    /// The whole head must arrive within this (hyper's
    /// `header_read_timeout` gets what is left of it).
    pub(super) header_timeout: Duration,
    /// Server shutdown: a connection still sending its head is dropped, as
    /// hyper drops an idle one.
    pub(super) shutdown: watch::Receiver<bool>,
    /// Where direct stream opens are counted.
    pub(super) counters: Arc<RequestCounters>,
}

/// A stream whose head is written, what its task keeps while it lasts.
pub(super) struct Opened {
    socket: TcpStream,
    body: axum::body::Body,
    /// Chunked (HTTP/1.1) or delimited by the close (HTTP/1.0).
    chunked: bool,
    write_timeout: Duration,
    /// Held while the stream lasts, so the shutdown's wait covers it.
    watcher: Watcher,
}

/// Writes an opened stream's events until it ends or its client leaves.
pub(super) async fn stream(opened: Opened) {
    let Opened {
        socket,
        body,
        chunked,
        write_timeout,
        watcher,
    } = opened;
    response::pump(&socket, body, chunked, write_timeout).await;
    drop(watcher);
}

/// Reads a fresh connection's first head and routes it: `Some` for a
/// stream whose head is written, `None` once anything else was served (by
/// hyper, or as a whole error answer) or the client left. Large and
/// short-lived: the caller boxes it, so an idle stream's task keeps only
/// [`Opened`] and [`stream`]'s state (issue 14).
pub(super) async fn open(socket: TcpStream, mut hyper: Hyper, direct: Direct) -> Option<Opened> {
    let Direct {
        header_timeout,
        mut shutdown,
        counters,
    } = direct;
    let started = Instant::now();
    let read = tokio::time::timeout(header_timeout, head::read(&socket, hyper.peer));
    let head = tokio::select! {
        head = read => head,
        _ = shutdown.changed() => return None,
    };
    drop(shutdown);
    match head {
        // Too slow (slowloris), gone, or failed: hang up, as hyper does.
        Err(_) | Ok(head::Head::Closed) => None,
        Ok(head::Head::Pass(prefix)) => {
            // hyper's header timeout also bounds every later head and the
            // idle wait before it: only a head still arriving gets what is
            // left of the first one's time.
            if !head::has_complete_head(&prefix) {
                let left = header_timeout.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return None;
                }
                hyper.http.header_read_timeout(left);
            }
            hyper.serve(Rewind::new(socket, prefix)).await;
            None
        }
        Ok(head::Head::Stream(mut req, keep)) => {
            req.extensions_mut().insert(hyper.close.clone());
            let Ok(res) = hyper.app.clone().oneshot(*req).await;
            if response::is_event_stream(&res) {
                let body = response::write_head(&socket, res, keep, hyper.write_timeout).await?;
                RequestCounters::bump(&counters.streams_opened_direct);
                return Some(Opened {
                    socket,
                    body,
                    chunked: keep != head::Keep::Http10,
                    write_timeout: hyper.write_timeout,
                    watcher: hyper.watcher,
                });
            }
            if response::whole(&socket, res, keep, hyper.write_timeout).await {
                // An error answer (401, 404, 429…) on a kept-alive
                // connection: it goes on with hyper.
                hyper.serve(Rewind::new(socket, Vec::new())).await;
            }
            None
        }
    }
}
