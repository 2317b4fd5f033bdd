//! The connection loop shared by the public and the metrics listeners:
//! header and write timeouts, connection caps, and a bounded wait for open
//! connections at shutdown.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use super::rewind::Rewind;
use super::{direct, fd_limit};
use crate::config::TrustedProxies;
use crate::inbox::CloseConnection;
use crate::metrics::RequestCounters;
use crate::refmap::{RefCountedMap, RefGuard};

/// How long shutdown waits for open connections before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The kernel's send buffer per accepted socket (Linux doubles it for its
/// own bookkeeping). Left to autotuning, each stalled reader tied up ~2.8
/// MB of queued data in the kernel, outside the byte budgets (SPEC §7.4;
/// review of session 9: 30 stalled streams, +110 MB of TCP memory); this
/// still fills a 100 ms path at ~2.5 MB/s.
pub const SEND_BUFFER_BYTES: usize = 128 * 1024;

/// How [`serve`] treats connections; the public listener and the metrics
/// one share the loop and its protections.
pub(crate) struct ServeOptions {
    /// Time to send the request headers (slowloris guard).
    pub(crate) header_timeout: Duration,
    /// Time a response may go unread before the connection is closed.
    pub(crate) write_timeout: Duration,
    /// Open connections at most; more wait in the kernel backlog.
    pub(crate) max_connections: usize,
    /// Open connections per client network, if capped; a trusted proxy,
    /// whose connections carry every client, is exempt.
    pub(crate) max_per_ip: Option<usize>,
    /// With `--trust-proxy`, `--trusted-proxies` (as `extract::is_trusted_proxy`).
    pub(crate) trusted_proxies: Option<TrustedProxies>,
    /// `Some` on the public listener: a fresh connection whose first request
    /// opens an SSE stream is served off hyper's buffers (`super::direct`,
    /// issue 14, TODO #205), counted here for `/metrics`.
    pub(crate) direct: Option<Arc<RequestCounters>>,
}

/// Open connections per client network, so one address can't take every
/// slot; each connection holds its network's entry until it closes.
type PerIpConnections = RefCountedMap<IpAddr, ()>;

impl ServeOptions {
    /// The per-network slot a connection from `peer` holds while open:
    /// `Ok(None)` when uncapped (or from a trusted proxy), `Err` when its
    /// network already has `max_per_ip` open.
    fn per_ip_slot(
        &self,
        per_ip: &PerIpConnections,
        peer: IpAddr,
    ) -> Result<Option<RefGuard<IpAddr, ()>>, ()> {
        let Some(max) = self.max_per_ip else {
            return Ok(None);
        };
        if self
            .trusted_proxies
            .as_ref()
            .is_some_and(|p| p.contains(peer))
        {
            return Ok(None);
        }
        let key = crate::rate_limit::network_key(peer.to_canonical());
        per_ip.acquire_within(key, max, || ()).map(Some).ok_or(())
    }
}

/// Accepts and serves `app` on `listener` until `shutdown` changes, then
/// waits at most [`SHUTDOWN_GRACE`] for the open connections.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    opts: ServeOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(opts.max_connections));
    let per_ip = PerIpConnections::default();
    let mut accept_errors = fd_limit::AcceptErrors::default();
    let http = http_builder(opts.header_timeout);
    loop {
        // Over the cap we stop accepting; new clients wait in the kernel backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(&mut accept_errors, &e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        // Events are small writes, often two back to back on one stream:
        // without this the second waits for the client's delayed ACK (up
        // to 40 ms, issue 14). Best effort: a socket that refuses is served.
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER_BYTES);
        let Ok(ip_slot) = opts.per_ip_slot(&per_ip, peer.ip()) else {
            // Over its share: hang up at once rather than queue it.
            tracing::debug!("connection refused: too many from one address");
            drop(stream);
            continue;
        };
        let held = HeldSlots {
            _permit: permit,
            _ip_slot: ip_slot,
        };
        let conn = Accepted { stream, peer, held };
        spawn_connection(&http, &graceful, &app, conn, &opts, &shutdown);
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close within the shutdown grace period");
    }
}

/// The HTTP/1 settings every connection is served with.
fn http_builder(header_timeout: Duration) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // A client may shut its sending side once the request is sent
        // (`shutdown(SHUT_WR)`, netcat, some proxies): it still gets its
        // answer; without this hyper closed such connections unanswered.
        .half_close(true)
        // Above our own limit, so most excess gets `edge`'s JSON 431.
        .max_headers(crate::edge::HYPER_MAX_HEADERS);
    http
}

/// EMFILE and friends: the caller backs off instead of spinning, and this
/// says so once per period rather than every 50 ms.
fn accept_failed(errors: &mut fd_limit::AcceptErrors, e: &std::io::Error) {
    if let Some(failures) = errors.record(std::time::Instant::now()) {
        tracing::warn!(error = %e, failures, "accept failed (warned at most every 10 s)");
    }
}

/// What an open connection holds until it closes: a slot under the global
/// cap, then its network's (dropped in that order).
struct HeldSlots {
    _permit: OwnedSemaphorePermit,
    _ip_slot: Option<RefGuard<IpAddr, ()>>,
}

/// An accepted connection with the slots it holds.
struct Accepted {
    stream: TcpStream,
    peer: SocketAddr,
    held: HeldSlots,
}

/// What a connection task needs to serve its socket with hyper.
pub(super) struct Hyper {
    pub(super) http: http1::Builder,
    pub(super) app: Router,
    pub(super) peer: SocketAddr,
    pub(super) write_timeout: Duration,
    /// Held until the connection ends, so the shutdown's wait covers it.
    pub(super) watcher: Watcher,
    /// Given to every request, so a slow reader's stream or answer can
    /// drop its connection (`inbox::shed`).
    pub(super) close: CloseConnection,
}

impl Hyper {
    /// Serves `io` (a socket, perhaps with bytes already read put back)
    /// with hyper until the connection ends.
    pub(super) async fn serve(self, io: Rewind<TcpStream>) {
        let (peer, close) = (self.peer, self.close);
        let svc = self.app.map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(close.clone());
            req
        });
        // A write that makes no progress for this long ends the connection,
        // and with it whatever its response (say an SSE stream) buffered for
        // a client that stopped reading.
        let mut io = tokio_io_timeout::TimeoutStream::new(io);
        io.set_write_timeout(Some(self.write_timeout));
        let conn = self
            .http
            .serve_connection(TokioIo::new(Box::pin(io)), TowerToHyperService::new(svc));
        if let Err(e) = self.watcher.watch(conn).await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}

/// Serves one connection on its own task, watched by `graceful`: through
/// the direct stream path when `direct` is set, else with hyper alone.
fn spawn_connection(
    http: &http1::Builder,
    graceful: &GracefulShutdown,
    app: &Router,
    conn: Accepted,
    opts: &ServeOptions,
    shutdown: &watch::Receiver<bool>,
) {
    let Accepted { stream, peer, held } = conn;
    let hyper = Hyper {
        http: http.clone(),
        app: app.clone(),
        peer,
        write_timeout: opts.write_timeout,
        watcher: graceful.watcher(),
        close: CloseConnection::default(),
    };
    let direct = opts.direct.clone().map(|counters| direct::Direct {
        header_timeout: opts.header_timeout,
        shutdown: shutdown.clone(),
        counters,
    });
    // One allocation holds what the task starts with and is freed once
    // taken apart: what an idle direct stream keeps is only its own state
    // (an async block's captures would stay for the task's life, issue 14).
    let task = Box::new(Connection {
        stream,
        held,
        hyper,
        direct,
    });
    tokio::spawn(task.run());
}

/// A connection's task: how it is served and the slots it holds.
struct Connection {
    stream: TcpStream,
    held: HeldSlots,
    hyper: Hyper,
    direct: Option<direct::Direct>,
}

impl Connection {
    /// The parts, with the box they came in freed.
    fn into_parts(self: Box<Self>) -> (TcpStream, HeldSlots, Hyper, Option<direct::Direct>) {
        let Self {
            stream,
            held,
            hyper,
            direct,
        } = *self;
        (stream, held, hyper, direct)
    }

    /// Serves the connection until it closes, then gives up its slots.
    async fn run(self: Box<Self>) {
        // Taken apart in a plain fn, so the box is freed here and not when
        // this future ends (a moved-out-of box argument lives as long).
        let (stream, held, hyper, direct) = self.into_parts();
        let close = hyper.close.clone();
        let serve = async move {
            match direct {
                Some(direct) => {
                    let opened = Box::pin(direct::open(stream, hyper, direct)).await;
                    if let Some(opened) = opened {
                        direct::stream(opened).await;
                    }
                }
                None => Box::pin(hyper.serve(Rewind::new(stream, Vec::new()))).await,
            }
        };
        // Shed as a slow reader: the connection goes with what it holds.
        tokio::select! {
            () = serve => {}
            () = close.closed() => {}
        }
        drop(held);
    }
}
