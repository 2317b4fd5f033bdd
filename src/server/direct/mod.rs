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

mod head;
mod response;

use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Serves one fresh connection: the direct stream path when its first
/// request is a stream open, hyper otherwise. Returns when it is closed.
pub(super) async fn serve(socket: TcpStream, mut hyper: Hyper, direct: Direct) {
    let Direct {
        header_timeout,
        mut shutdown,
        counters,
    } = direct;
    let started = Instant::now();
    // Boxed: the head's read is the largest state of this future and
    // lives only until the head is in; the stream's idle task stays small.
    let read = tokio::time::timeout(header_timeout, Box::pin(head::read(&socket, hyper.peer)));
    let head = tokio::select! {
        head = read => head,
        _ = shutdown.changed() => return,
    };
    drop(shutdown);
    match head {
        // Too slow (slowloris), gone, or failed: hang up, as hyper does.
        Err(_) | Ok(head::Head::Closed) => {}
        Ok(head::Head::Pass(prefix)) => {
            let left = header_timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return;
            }
            hyper.http.header_read_timeout(left);
            // Boxed, here and below: hyper's connection state is large, and
            // an idle stream's task should not keep room for it.
            Box::pin(hyper.serve(Rewind::new(socket, prefix))).await;
        }
        Ok(head::Head::Stream(req)) => {
            let res = Box::pin(hyper.app.clone().oneshot(*req)).await;
            let Ok(res) = res;
            if response::is_event_stream(&res) {
                RequestCounters::bump(&counters.streams_opened_direct);
                drop(counters);
                let Hyper {
                    write_timeout,
                    watcher,
                    http,
                    app,
                    ..
                } = hyper;
                drop((http, app));
                response::stream(&socket, res, write_timeout).await;
                drop(watcher);
            } else if Box::pin(response::whole(&socket, res, hyper.write_timeout)).await {
                // An error answer (401, 404, 429…): the connection goes on
                // with hyper, as a keep-alive one would.
                Box::pin(hyper.serve(Rewind::new(socket, Vec::new()))).await;
            }
        }
    }
}
