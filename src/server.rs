//! Binding, the connection loop and lifecycle: one HTTP/1 server with a
//! header-read timeout (axum's `serve` has none, which invites slowloris), a
//! cap on concurrent connections, background tasks, and graceful shutdown
//! that lets in-flight requests finish and closes the database cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::config::Config;
use crate::refmap::RefCountedMap;
use crate::state::AppState;

/// How long shutdown waits for open connections before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long shutdown waits for the last pushes (those still coalescing).
const PUSH_DRAIN_GRACE: Duration = Duration::from_secs(5);
/// How often idle rate-limit buckets are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A started server: its address, state, and the handle to stop it.
pub struct RunningServer {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The shared state, for tests and embedding.
    pub state: AppState,
    /// Where `/metrics` is served, when `--metrics-bind` is set.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    serve: JoinHandle<()>,
    push_worker: Option<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish, ends streams and
    /// background tasks, and closes the database.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.serve.await;
        // No request can store a message any more: push what is still waiting.
        if let Some(mut worker) = self.push_worker {
            self.state.push.drain();
            if tokio::time::timeout(PUSH_DRAIN_GRACE, &mut worker)
                .await
                .is_err()
            {
                worker.abort();
                tracing::warn!("some pushes were still in flight at shutdown");
            }
        }
        for task in self.background {
            let _ = task.await;
        }
        self.state.store.close().await;
        tracing::info!("server stopped");
    }
}

/// Opens the database, binds, and starts serving and the background tasks.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut state = AppState::new(config, shutdown_rx.clone())?;
    // With NATS, the NATS broker (which wraps a local one) replaces the default.
    let nats_bridge = state.config.nats_url.clone().map(|url| {
        let (broker, bridge) = crate::nats::fanout::NatsBroker::new(
            &url,
            &state.config.server,
            crate::nats::fanout::DEFAULT_QUEUE,
        );
        state.nats = Some(broker.stats());
        state.broker = Arc::new(broker);
        bridge
    });
    let app = crate::app(state.clone());

    let mut background = vec![
        tokio::spawn({
            let limiters = [
                state.message_limiter.clone(),
                state.register_limiter.clone(),
                state.push_limiter.clone(),
            ];
            run_periodically(SWEEP_EVERY, shutdown_rx.clone(), move || {
                limiters
                    .iter()
                    .for_each(crate::rate_limit::IpRateLimiter::sweep);
                std::future::ready(())
            })
        }),
        tokio::spawn({
            let store = state.store.clone();
            let retention = Duration::from_secs(state.config.retention_hours.saturating_mul(3600));
            run_periodically(
                Duration::from_secs(state.config.retention_interval_secs.max(1)),
                shutdown_rx.clone(),
                move || crate::messages::purge_expired(store.clone(), retention),
            )
        }),
    ];
    background.push(tokio::spawn({
        let disk = state.disk.clone();
        run_periodically(crate::disk::CHECK_EVERY, shutdown_rx.clone(), move || {
            let disk = disk.clone();
            async move {
                let _ = tokio::task::spawn_blocking(move || disk.measure()).await;
            }
        })
    }));
    let push_worker = state.push.start_worker();
    background
        .extend(nats_bridge.map(|b| tokio::spawn(b.run(state.store.clone(), shutdown_rx.clone()))));
    let opts = ServeOptions {
        header_timeout: state.config.header_timeout(),
        write_timeout: state.config.write_timeout(),
        max_connections: state.config.max_connections.max(1),
        max_per_ip: (!state.config.trust_proxy)
            .then_some(state.config.max_connections_per_ip.max(1)),
    };
    let metrics_listener = crate::metrics::bind(&state).await?;
    let metrics_addr = metrics_listener
        .as_ref()
        .and_then(crate::metrics::local_addr);
    background.extend(
        metrics_listener
            .map(|l| tokio::spawn(crate::metrics::serve(l, state.clone(), shutdown_rx.clone()))),
    );
    if let Some(m) = metrics_addr {
        tracing::info!("metrics on http://{m}/metrics");
    }
    let serve = tokio::spawn(serve(listener, app, opts, shutdown_rx));
    tracing::info!("listening on http://{addr}");
    Ok(RunningServer {
        addr,
        state,
        metrics_addr,
        shutdown: shutdown_tx,
        serve,
        push_worker,
        background,
    })
}

struct ServeOptions {
    header_timeout: Duration,
    write_timeout: Duration,
    max_connections: usize,
    /// `None` behind a trusted proxy, where every connection comes from it.
    max_per_ip: Option<usize>,
}

/// Open connections per client network, so one address can't take every
/// slot; each connection holds its network's entry until it closes.
type PerIpConnections = RefCountedMap<std::net::IpAddr, ()>;

async fn serve(
    listener: TcpListener,
    app: Router,
    opts: ServeOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(opts.max_connections));
    let per_ip = PerIpConnections::default();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(opts.header_timeout);
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
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let ip_slot = match opts.max_per_ip {
            Some(max) => {
                match per_ip.acquire_within(crate::rate_limit::network_key(peer.ip()), max, || ()) {
                    Some(slot) => Some(slot),
                    None => {
                        // Over its share: hang up at once rather than queue it.
                        tracing::debug!("connection refused: too many from one address");
                        drop(stream);
                        continue;
                    }
                }
            }
            None => None,
        };
        let svc = app.clone().map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        // A write that makes no progress for this long ends the connection,
        // and with it whatever its response (say an SSE stream) buffered for
        // a client that stopped reading.
        let mut io = tokio_io_timeout::TimeoutStream::new(stream);
        io.set_write_timeout(Some(opts.write_timeout));
        let conn = http.serve_connection(TokioIo::new(Box::pin(io)), TowerToHyperService::new(svc));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
            drop(ip_slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close within the shutdown grace period");
    }
}

/// Runs `task` every `every` (first run immediately) until shutdown; the
/// shape of every periodic background job (retention, limiter sweeps).
pub async fn run_periodically<F, Fut>(
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
    mut task: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => task().await,
            _ = shutdown.changed() => return,
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
