//! Background tasks run supervised: each is listed in `/metrics` with its
//! early exits, and the server's own ways of stopping all end cleanly.
//! (Restart and stop-on-failure are unit-tested in `src/supervisor.rs`,
//! where a task can be made to fail.)

use std::time::Duration;

use kez_chat_server::server;

use crate::helpers::*;

const BOUND: Duration = Duration::from_secs(10);

#[tokio::test]
async fn every_background_task_is_listed_with_no_early_exits() {
    // Arrange
    let app = spawn_app_with(|c| {
        c.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
        c.nats_url = Some("nats://127.0.0.1:1".to_owned());
    })
    .await;

    // Act
    let text = app.metrics_text().await;

    // Assert
    for task in [
        "http",
        "rate_limit_sweep",
        "retention",
        "disk_measure",
        "sender_keys",
        "push_worker",
        "nats_bridge",
        "metrics_listener",
    ] {
        let line = format!("kez_background_task_exits_total{{task=\"{task}\"}} 0");
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing in:\n{text}"
        );
    }
}

#[tokio::test]
async fn run_until_the_signal_stops_cleanly_and_says_ok() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(&dir);
    let running = server::start(config.clone()).await.unwrap();

    // Act
    let outcome = tokio::time::timeout(BOUND, running.run_until(async {})).await;

    // Assert: Ok, and the database was closed (a new server opens it).
    assert!(outcome.expect("shutdown hung").is_ok());
    let again = server::start(config).await.expect("restart on the same db");
    again.shutdown().await;
}

#[tokio::test]
async fn dropping_a_running_server_stops_it() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let running = server::start(test_config(&dir)).await.unwrap();
    let addr = running.addr;
    let mut stopping = running.state.shutdown.clone();

    // Act
    drop(running);

    // Assert: the tasks were told to stop, and the listener closes.
    tokio::time::timeout(BOUND, stopping.wait_for(|s| *s))
        .await
        .expect("no shutdown signal")
        .unwrap();
    let deadline = tokio::time::Instant::now() + BOUND;
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still accepting connections"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `--worker-threads` sizes the runtime; unset, it is one fewer than the
/// CPUs, at least one (the writer thread keeps a core: issue 14). The
/// start-up line reports the runtime's own count.
#[tokio::test]
async fn the_runtime_has_the_configured_worker_threads() {
    let cpus = std::thread::available_parallelism().ok();
    let default = kez_chat_server::config::default_workers(cpus);
    let cases = [
        (&["--worker-threads", "3"][..], 3),
        (&["--worker-threads", "2"][..], 2),
        (&[][..], default),
    ];
    for (args, want) in cases {
        // Arrange + Act
        let dir = tempfile::tempdir().unwrap();
        let server = start_binary(&dir.path().join("rt.db"), "info", args).await;

        // Assert
        assert_eq!(server.get("/v1/healthz").await.status(), 200);
        // The last field of its line, so `workers=1` cannot match `workers=12`.
        let field = format!("workers={want}\n");
        assert!(server.process.logged(&field), "{args:?}");
    }
}
