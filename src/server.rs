//! Binding, the connection loop and lifecycle: one HTTP/1 server with a
//! header-read timeout (axum's `serve` has none, which invites slowloris), a
//! cap on concurrent connections, every background task under one
//! [`Supervisor`], and graceful shutdown that lets in-flight requests
//! finish, pushes what is still waiting, and closes the database cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::state::{AppState, Background};
use crate::supervisor::{Supervisor, TaskFailed, run_periodically};

mod conn;
mod direct;
pub mod fd_limit;
mod rewind;

pub use conn::SEND_BUFFER_BYTES;
pub(crate) use conn::{ServeOptions, serve};

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
    /// Dropping it (or the whole `RunningServer`) starts the shutdown.
    stop: oneshot::Sender<()>,
    supervisor: JoinHandle<Result<(), TaskFailed>>,
}

impl RunningServer {
    /// Serves until `signal` resolves or the server stops itself because a
    /// critical task failed, then shuts down. `Err` in the second case, so
    /// the process can exit non-zero.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
        let mut shutdown = self.state.shutdown.clone();
        let stopped_itself = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        tokio::select! {
            () = signal => tracing::info!("shutting down"),
            () = stopped_itself => {}
        }
        Ok(self.stop().await?)
    }

    /// Stops accepting, lets in-flight requests finish, pushes what is still
    /// waiting, ends streams and background tasks, and closes the database.
    pub async fn shutdown(self) {
        // A critical task's failure was logged when it happened.
        let _ = self.stop().await;
    }

    async fn stop(self) -> Result<(), TaskFailed> {
        let _ = self.stop.send(());
        // The supervisor runs the shutdown in order: the HTTP loop stops
        // accepting and waits for open requests, then the push worker drains,
        // and every task has ended when it returns.
        let outcome = self.supervisor.await.unwrap_or_else(|e| {
            tracing::error!(error.message = %e, "the task supervisor failed");
            Err(TaskFailed { task: "supervisor" })
        });
        self.state.store.close().await;
        tracing::info!("server stopped");
        outcome
    }
}

/// Opens the database, binds, and starts serving and the background tasks.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    let open_files = fd_limit::raise_open_file_limit();
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // Opening the store (migrations, the WAL switch) is blocking SQLite work.
    let (state, background) =
        tokio::task::spawn_blocking(move || AppState::new(config, shutdown_rx)).await??;
    let metrics_listener = crate::metrics::bind(&state).await?;
    let metrics_addr = metrics_listener
        .as_ref()
        .and_then(crate::metrics::MetricsListener::local_addr);

    let mut tasks = Supervisor::new(shutdown_tx, state.task_exits.clone());
    let requests_done = supervise_http(&mut tasks, listener, &state, open_files);
    supervise_jobs(&mut tasks, &state);
    supervise_workers(&mut tasks, &state, background, requests_done);
    if let Some(listener) = metrics_listener {
        let (listener, state) = (Arc::new(listener), state.clone());
        tasks.restartable("metrics_listener", move || {
            let (listener, state) = (listener.clone(), state.clone());
            let shutdown = state.shutdown.clone();
            async move { crate::metrics::serve(&listener, state, shutdown).await }
        });
    }
    let (stop, stop_rx) = oneshot::channel();
    let supervisor = tokio::spawn(tasks.run(async {
        // Sent, or the `RunningServer` was dropped: stop either way.
        let _ = stop_rx.await;
    }));
    if let Some(m) = metrics_addr {
        tracing::info!("metrics on http://{m}/metrics");
    }
    tracing::info!("listening on http://{addr}");
    log_setup(&state.config);
    Ok(RunningServer {
        addr,
        state,
        metrics_addr,
        stop,
        supervisor,
    })
}

/// The HTTP loop, critical: if it ends before shutdown the server stops
/// (and `main` exits non-zero) instead of running on without accepting
/// anything. Returns what flips once it has ended and no request is left.
fn supervise_http(
    tasks: &mut Supervisor,
    listener: TcpListener,
    state: &AppState,
    open_files: Option<u64>,
) -> watch::Receiver<bool> {
    let configured = state.config.max_connections.max(1);
    let max_connections = fd_limit::effective_max_connections(configured, open_files);
    if max_connections < configured {
        tracing::warn!(
            configured,
            "--max-connections lowered to fit the open-file limit; raise `ulimit -n` for more"
        );
    }
    tracing::info!(
        max_connections,
        open_files_limit = ?open_files,
        "effective connection cap"
    );
    let opts = ServeOptions {
        header_timeout: state.config.header_timeout(),
        write_timeout: state.config.write_timeout(),
        max_connections,
        max_per_ip: Some(state.config.max_connections_per_ip.max(1)),
        trusted_proxies: state
            .config
            .trust_proxy
            .then(|| state.config.trusted_proxies.clone()),
        direct: Some(state.counters.clone()),
    };
    let app = crate::app(state.clone());
    let shutdown = state.shutdown.clone();
    // Dropped unsent if the loop panics, which also tells receivers it ended.
    let (done, requests_done) = watch::channel(false);
    tasks.critical("http", async move {
        serve(listener, app, opts, shutdown).await;
        done.send_replace(true);
    });
    requests_done
}

/// The periodic jobs: idempotent, so restarted after an early end.
fn supervise_jobs(tasks: &mut Supervisor, state: &AppState) {
    let limiters = [
        state.message_limiter.clone(),
        state.silent_limiter.clone(),
        state.ephemeral_limiter.clone(),
        state.register_limiter.clone(),
        state.push_limiter.clone(),
        state.profile_limiter.clone(),
        state.sigchain_limiter.clone(),
        state.proof_limiter.clone(),
    ];
    let shutdown = state.shutdown.clone();
    tasks.restartable("rate_limit_sweep", move || {
        let limiters = limiters.clone();
        run_periodically(SWEEP_EVERY, shutdown.clone(), move || {
            limiters
                .iter()
                .for_each(crate::rate_limit::IpRateLimiter::sweep);
            std::future::ready(())
        })
    });
    let store = state.store.clone();
    let retention = Duration::from_secs(state.config.retention_hours.saturating_mul(3600));
    let every = Duration::from_secs(state.config.retention_interval_secs.max(1));
    let shutdown = state.shutdown.clone();
    tasks.restartable("retention", move || {
        let store = store.clone();
        run_periodically(every, shutdown.clone(), move || {
            crate::messages::purge_expired(store.clone(), retention)
        })
    });
    let keys = state.sender_keys.clone();
    let shutdown = state.shutdown.clone();
    tasks.restartable("sender_keys", move || {
        let keys = keys.clone();
        run_periodically(
            crate::sender_keys::CHECK_EVERY,
            shutdown.clone(),
            move || {
                let keys = keys.clone();
                async move {
                    let checked = tokio::task::spawn_blocking(move || keys.check()).await;
                    // The ring in memory stays as it was; the next tick tries again.
                    if let Err(e) = checked.map_err(anyhow::Error::from).and_then(|r| r) {
                        tracing::warn!(error = format!("{e:#}"), "sender key ring check failed");
                    }
                }
            },
        )
    });
    let disk = state.disk.clone();
    let shutdown = state.shutdown.clone();
    tasks.restartable("disk_measure", move || {
        let disk = disk.clone();
        run_periodically(crate::disk::CHECK_EVERY, shutdown.clone(), move || {
            let disk = disk.clone();
            async move {
                let _ = tokio::task::spawn_blocking(move || disk.measure()).await;
            }
        })
    });
}

/// The workers behind the components, restarted after an early end. Each
/// owns a queue: the worker sits in a `tokio::sync::Mutex` that its run
/// holds, so a run that panics hands the queue to the next one as it
/// unwinds.
fn supervise_workers(
    tasks: &mut Supervisor,
    state: &AppState,
    background: Background,
    requests_done: watch::Receiver<bool>,
) {
    let worker = Arc::new(tokio::sync::Mutex::new(background.push));
    let push = state.push.clone();
    // Flipped once the nostr listener has settled its last claims.
    let (nostr_tx, nostr_done) = watch::channel(background.nostr.is_none());
    tasks.restartable("push_worker", move || {
        let (worker, push, mut requests_done, mut nostr_done) = (
            worker.clone(),
            push.clone(),
            requests_done.clone(),
            nostr_done.clone(),
        );
        async move {
            let mut worker = worker.lock_owned().await;
            let run = worker.run();
            tokio::pin!(run);
            tokio::select! {
                () = &mut run => return,
                _ = requests_done.wait_for(|d| *d) => {}
            }
            // Nor can the nostr listener (bounded: its relays may hang).
            let listener_done = nostr_done.wait_for(|d| *d);
            let _ = tokio::time::timeout(PUSH_DRAIN_GRACE, listener_done).await;
            // No request can store a message any more: push what is still waiting.
            push.drain();
            if tokio::time::timeout(PUSH_DRAIN_GRACE, run).await.is_err() {
                tracing::warn!("some pushes were still in flight at shutdown");
            }
        }
    });
    if let Some(bridge) = background.nats {
        let bridge = Arc::new(tokio::sync::Mutex::new(bridge));
        let (store, shutdown) = (state.store.clone(), state.shutdown.clone());
        tasks.restartable("nats_bridge", move || {
            let (bridge, store, shutdown) = (bridge.clone(), store.clone(), shutdown.clone());
            async move { bridge.lock_owned().await.run(store, shutdown).await }
        });
    }
    if let Some(callout) = background.callout {
        let (callout, shutdown) = (Arc::new(callout), state.shutdown.clone());
        tasks.restartable("nats_callout", move || {
            let (callout, shutdown) = (callout.clone(), shutdown.clone());
            async move { callout.run(shutdown).await }
        });
    }
    if let Some(listener) = background.nostr {
        let (listener, shutdown) = (Arc::new(listener), state.shutdown.clone());
        let nostr_tx = Arc::new(nostr_tx);
        tasks.restartable("nostr_listener", move || {
            let (listener, shutdown, done) = (listener.clone(), shutdown.clone(), nostr_tx.clone());
            async move {
                listener.run(shutdown.clone()).await;
                if *shutdown.borrow() {
                    done.send_replace(true);
                }
            }
        });
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

/// Where the data lives, for the start-up line: the SQLite file, or that
/// it is PostgreSQL (the connection string may hold a password: not shown).
fn database(c: &Config) -> String {
    match &c.database_url {
        Some(url) => url.to_string(),
        None => c.db.display().to_string(),
    }
}

/// What an operator checks first: the domain handles live under, the
/// database file, where the web client comes from and where lookups send
/// readers of a sigchain (no secret among them).
fn log_setup(c: &Config) {
    let client = match &c.web_dir {
        Some(dir) => dir.display().to_string(),
        None if cfg!(feature = "embed-web") => "embedded".to_owned(),
        None => "none (a placeholder page; see --web-dir)".to_owned(),
    };
    tracing::info!(
        domain = %c.server,
        db = %database(c),
        client = %client,
        sigchains = %c.sigchain_url("<key>"),
        workers = tokio::runtime::Handle::current().metrics().num_workers(),
        "serving handle@{}",
        c.server
    );
}
