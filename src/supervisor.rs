//! Every background task in one supervised set.
//!
//! The server's tasks (the HTTP accept loop, limiter sweep, retention,
//! sender key check, disk measure, push worker, NATS bridge, metrics
//! listener) run in one `JoinSet`
//! watched by [`Supervisor::run`]. A task that ends before shutdown, by
//! returning or by panicking, is logged with its name and counted in
//! `kez_background_task_exits_total{task="…"}`; then, by the policy it was
//! added with:
//!
//! - [`Supervisor::restartable`]: it starts again after a delay (1 s,
//!   doubling up to 1 min, back to 1 s once a run lasted that long).
//!   Periodic jobs are safe to repeat, and the workers keep their queue
//!   from one run to the next.
//! - [`Supervisor::critical`]: the server stops, and `run` returns
//!   [`TaskFailed`] so `main` exits non-zero. For the HTTP loop: a process
//!   that accepts no connection must not stay up looking healthy.
//!
//! Shutdown starts when `run`'s `stop` future resolves (or a critical task
//! failed): the supervisor sends the shutdown signal, every task ends on
//! its own (each bounds its own wait), and `run` returns once all have.
//! Shapes: zero2prod's `report_exit`, tuwunel's service manager.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::{Id, JoinError, JoinSet};
use tokio::time::Instant;

use crate::metrics::TaskExits;

/// Wait before the first restart of a task that ended early.
pub const FIRST_RESTART_DELAY: Duration = Duration::from_secs(1);
/// Longest wait between restarts; a run that lasted this long resets the wait.
pub const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);

/// A critical task ended before shutdown, so the server stopped itself.
#[derive(Debug, thiserror::Error)]
#[error("the {task} task stopped unexpectedly, so the server stopped")]
pub struct TaskFailed {
    /// The name the task was added with.
    pub task: &'static str,
}

type MakeTask = Box<dyn FnMut() -> BoxFuture<'static, ()> + Send>;

struct Task {
    name: &'static str,
    /// `None` for a critical task.
    restart: Option<Restart>,
}

struct Restart {
    make: MakeTask,
    /// Wait before the next restart.
    delay: Duration,
    /// When the current run started (or will, after its delay).
    started: Instant,
}

/// The set of background tasks, their policies, and the shutdown signal
/// they all end on.
pub struct Supervisor {
    set: JoinSet<()>,
    tasks: HashMap<Id, Task>,
    shutdown: watch::Sender<bool>,
    exits: TaskExits,
    first_delay: Duration,
    max_delay: Duration,
}

impl Supervisor {
    /// A supervisor that owns `shutdown` (tasks hold its receivers, so it
    /// can stop them itself) and counts early ends in `exits`.
    pub fn new(shutdown: watch::Sender<bool>, exits: TaskExits) -> Self {
        Self {
            set: JoinSet::new(),
            tasks: HashMap::new(),
            shutdown,
            exits,
            first_delay: FIRST_RESTART_DELAY,
            max_delay: MAX_RESTART_DELAY,
        }
    }

    /// The same supervisor with other restart delays (tests use short ones).
    #[must_use]
    pub fn with_restart_delays(mut self, first: Duration, max: Duration) -> Self {
        self.first_delay = first;
        self.max_delay = max.max(first);
        self
    }

    /// Runs `make()` now, and again (after the delay) whenever the run ends
    /// before shutdown. Each run must end soon after the shutdown signal.
    pub fn restartable<F, Fut>(&mut self, name: &'static str, mut make: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut make: MakeTask = Box::new(move || Box::pin(make()));
        let id = self.set.spawn(make()).id();
        self.exits.track(name);
        let restart = Restart {
            make,
            delay: self.first_delay,
            started: Instant::now(),
        };
        self.tasks.insert(
            id,
            Task {
                name,
                restart: Some(restart),
            },
        );
    }

    /// Runs `task` once; if it ends before shutdown, the server stops.
    /// It must end soon after the shutdown signal.
    pub fn critical(
        &mut self,
        name: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let id = self.set.spawn(task).id();
        self.exits.track(name);
        self.tasks.insert(
            id,
            Task {
                name,
                restart: None,
            },
        );
    }

    /// Watches the tasks until `stop` resolves or a critical task fails,
    /// then sends the shutdown signal and waits for every task to end.
    pub async fn run(mut self, stop: impl Future<Output = ()>) -> Result<(), TaskFailed> {
        let mut outcome = Ok(());
        tokio::pin!(stop);
        loop {
            tokio::select! {
                Some(joined) = self.set.join_next_with_id() => {
                    outcome = self.ended_early(joined);
                    if outcome.is_err() {
                        break;
                    }
                }
                () = &mut stop => break,
            }
        }
        self.shutdown.send_replace(true);
        while let Some(joined) = self.set.join_next_with_id().await {
            let (id, panic) = split(joined);
            if let (Some(task), Some(e)) = (self.tasks.remove(&id), panic) {
                tracing::error!(task = task.name, error.message = %e, "background task panicked while stopping");
            }
        }
        outcome
    }

    /// A task ended while the server was running: count it, then restart
    /// it or report that the server must stop.
    fn ended_early(&mut self, joined: Result<(Id, ()), JoinError>) -> Result<(), TaskFailed> {
        let (id, panic) = split(joined);
        let Some(task) = self.tasks.remove(&id) else {
            return Ok(());
        };
        self.exits.count(task.name);
        match task.restart {
            Some(restart) => {
                self.restart(task.name, restart, panic.as_ref());
                Ok(())
            }
            None => {
                report(task.name, panic.as_ref(), "stopping the server");
                Err(TaskFailed { task: task.name })
            }
        }
    }

    fn restart(&mut self, name: &'static str, mut r: Restart, panic: Option<&JoinError>) {
        // A run that lasted a while was healthy: start over from the shortest wait.
        if r.started.elapsed() >= self.max_delay {
            r.delay = self.first_delay;
        }
        let delay = r.delay;
        report(name, panic, &format!("restarting it in {delay:?}"));
        let run = (r.make)();
        let mut shutdown = self.shutdown.subscribe();
        let id = self
            .set
            .spawn(async move {
                let stopping = async move {
                    let _ = shutdown.wait_for(|s| *s).await;
                };
                // Shutdown during the wait still runs the task once: every
                // task ends on its own soon after the signal, and a worker
                // that drains at shutdown (the push worker) must get to.
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stopping => {}
                }
                run.await;
            })
            .id();
        r.delay = (delay * 2).min(self.max_delay);
        r.started = Instant::now() + delay;
        self.tasks.insert(
            id,
            Task {
                name,
                restart: Some(r),
            },
        );
    }
}

fn split(joined: Result<(Id, ()), JoinError>) -> (Id, Option<JoinError>) {
    match joined {
        Ok((id, ())) => (id, None),
        Err(e) => (e.id(), Some(e)),
    }
}

/// Logs an early end the way zero2prod's `report_exit` does: which task,
/// how it ended, and what happens next.
fn report(task: &'static str, panic: Option<&JoinError>, next: &str) {
    match panic {
        Some(e) => tracing::error!(task, error.message = %e, "background task panicked; {next}"),
        None => tracing::error!(task, "background task ended before shutdown; {next}"),
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
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            // `wait_for` also sees a shutdown that began before this run.
            () = async { drop(shutdown.wait_for(|s| *s).await) } => return,
            _ = tick.tick() => task().await,
        }
    }
}

#[cfg(test)]
mod tests;
