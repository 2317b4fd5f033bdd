//! Unit tests of the supervisor: restarts, counting, critical failures, shutdown.

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
