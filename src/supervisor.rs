//! Every background task in one supervised set.
//!
//! The server's tasks (the HTTP accept loop, limiter sweep, retention, disk
//! measure, push worker, NATS bridge, metrics listener) run in one `JoinSet`
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
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    const BOUND: Duration = Duration::from_secs(10);

    fn supervisor() -> (Supervisor, watch::Receiver<bool>, TaskExits) {
        let (tx, rx) = watch::channel(false);
        let exits = TaskExits::default();
        let sup = Supervisor::new(tx, exits.clone())
            .with_restart_delays(Duration::from_millis(5), Duration::from_millis(50));
        (sup, rx, exits)
    }

    #[tokio::test]
    async fn a_periodic_task_that_panics_is_counted_and_runs_again() {
        // Arrange: a job whose first run panics.
        let (mut sup, shutdown, exits) = supervisor();
        let (runs_tx, mut runs) = watch::channel(0u32);
        let rx = shutdown.clone();
        sup.restartable("flaky", move || {
            let runs_tx = runs_tx.clone();
            run_periodically(Duration::from_secs(3600), rx.clone(), move || {
                runs_tx.send_modify(|n| *n += 1);
                assert!(*runs_tx.borrow() > 1, "the first run fails");
                std::future::ready(())
            })
        });
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let supervised = tokio::spawn(sup.run(async {
            let _ = stop_rx.await;
        }));

        // Act
        let ran_again = tokio::time::timeout(BOUND, runs.wait_for(|n| *n >= 2)).await;

        // Assert
        assert!(ran_again.is_ok(), "the job never ran after its panic");
        assert_eq!(exits.get("flaky"), 1);
        stop.send(()).unwrap();
        let outcome = tokio::time::timeout(BOUND, supervised).await.unwrap();
        assert!(outcome.unwrap().is_ok());
        assert!(*shutdown.borrow());
        assert_eq!(exits.get("flaky"), 1, "ending at shutdown is not counted");
    }

    #[tokio::test]
    async fn a_task_that_returns_early_is_restarted_too() {
        let (mut sup, _shutdown, exits) = supervisor();
        let (runs_tx, mut runs) = watch::channel(0u32);
        sup.restartable("quitter", move || {
            let runs_tx = runs_tx.clone();
            async move { runs_tx.send_modify(|n| *n += 1) }
        });
        let supervised = tokio::spawn(sup.run(std::future::pending()));
        let restarted = tokio::time::timeout(BOUND, runs.wait_for(|n| *n >= 3)).await;
        assert!(restarted.is_ok(), "not restarted");
        assert!(exits.get("quitter") >= 2);
        supervised.abort();
    }

    #[tokio::test]
    async fn a_critical_task_that_ends_stops_the_server() {
        // Arrange: a well-behaved worker and a critical task that fails.
        let (mut sup, shutdown, exits) = supervisor();
        let worker_stopped = Arc::new(AtomicBool::new(false));
        let (flag, rx) = (worker_stopped.clone(), shutdown.clone());
        sup.restartable("worker", move || {
            let (flag, mut rx) = (flag.clone(), rx.clone());
            async move {
                let _ = rx.wait_for(|s| *s).await;
                flag.store(true, Ordering::Relaxed);
            }
        });
        let (fail, failed) = tokio::sync::oneshot::channel::<()>();
        sup.critical("http", async move {
            let _ = failed.await;
            panic!("the accept loop broke");
        });
        let supervised = tokio::spawn(sup.run(std::future::pending()));

        // Act
        fail.send(()).unwrap();
        let outcome = tokio::time::timeout(BOUND, supervised).await;

        // Assert: stopped by itself, said why, and stopped the rest cleanly.
        let err = outcome
            .expect("the server did not stop")
            .unwrap()
            .unwrap_err();
        assert_eq!(err.task, "http");
        assert!(*shutdown.borrow());
        assert!(worker_stopped.load(Ordering::Relaxed));
        assert_eq!((exits.get("http"), exits.get("worker")), (1, 0));
    }
    #[tokio::test]
    async fn a_task_waiting_to_restart_still_runs_once_at_shutdown() {
        // Arrange: a worker that panics on its first run, then (like the
        // push worker) does its shutdown work when it runs; a long restart wait.
        let (tx, shutdown) = watch::channel(false);
        let exits = TaskExits::default();
        let mut sup = Supervisor::new(tx, exits.clone())
            .with_restart_delays(Duration::from_secs(3600), Duration::from_secs(3600));
        let (runs_tx, mut runs) = watch::channel(0u32);
        let drained = Arc::new(AtomicBool::new(false));
        let (flag, rx) = (drained.clone(), shutdown.clone());
        sup.restartable("worker", move || {
            let (runs_tx, flag, mut rx) = (runs_tx.clone(), flag.clone(), rx.clone());
            async move {
                runs_tx.send_modify(|n| *n += 1);
                assert!(*runs_tx.borrow() > 1, "the first run fails");
                let _ = rx.wait_for(|s| *s).await;
                flag.store(true, Ordering::Relaxed);
            }
        });
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let supervised = tokio::spawn(sup.run(async {
            let _ = stop_rx.await;
        }));
        tokio::time::timeout(BOUND, runs.wait_for(|n| *n >= 1))
            .await
            .unwrap()
            .unwrap();
        let counted = async {
            while exits.get("worker") == 0 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(BOUND, counted).await.unwrap();

        // Act: shut down during the hour-long restart wait.
        stop.send(()).unwrap();
        let outcome = tokio::time::timeout(BOUND, supervised).await;

        // Assert: the worker ran once more and did its shutdown work.
        assert!(outcome.expect("shutdown hung").unwrap().is_ok());
        assert!(
            drained.load(Ordering::Relaxed),
            "the waiting worker never ran"
        );
    }
}
