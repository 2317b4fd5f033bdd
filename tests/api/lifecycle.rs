//! Startup, restart and connection-level protections.

use std::time::Duration;

use kez_chat_server::server;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// A raw connection to `app` that has sent `bytes`.
async fn raw_sent(app: &TestApp, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(app.addr()).await.unwrap();
    s.write_all(bytes).await.unwrap();
    s
}

/// Reads one whole response (head and `Content-Length` body) and checks
/// it is a 200.
async fn read_200(s: &mut TcpStream) {
    let read = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed mid-response");
            got.extend_from_slice(&buf[..n]);
        }
    };
    let response = within(10, "an answer", read).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn registrations_survive_a_restart() {
    let mut app = spawn_app().await;
    let alice = TestIdentity::generate();
    let created = app.register(&alice, "alice").await;
    app.restart().await;
    let res = app.get("/v1/u/alice").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), created);
}

#[tokio::test]
async fn an_unwritable_database_path_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir);
    config.db = dir.path().join("no/such/dir/kez.db");
    let err = server::start(config).await.err().expect("start must fail");
    let msg = format!("{err:#}");
    assert!(msg.contains("cannot open database"), "{msg}");
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let app = spawn_app_with(|c| c.header_timeout_secs = 1).await;
    // Never finish the headers: the server must hang up on its own.
    let mut s = raw_sent(&app, b"GET /v1/healthz HTTP/1.1\r\nHost: x\r\n").await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "server kept a slowloris connection open");
    // A well-behaved client still gets through.
    assert_eq!(app.get("/v1/healthz").await.status(), 200);
}

#[tokio::test]
async fn connections_over_the_cap_wait_instead_of_being_served() {
    let app = spawn_app_with(|c| c.max_connections = 1).await;
    // Hold the only slot with an idle keep-alive connection.
    let mut held = raw_sent(&app, HEALTHZ).await;
    read_200(&mut held).await;
    // A second client is not served while the slot is held: not even once
    // the held connection has been answered again since it asked…
    let mut second = raw_sent(&app, HEALTHZ).await;
    for _ in 0..3 {
        held.write_all(HEALTHZ).await.unwrap();
        read_200(&mut held).await;
    }
    let mut buf = [0u8; 512];
    let early = tokio::time::timeout(Duration::from_millis(100), second.read(&mut buf)).await;
    assert!(early.is_err(), "second connection was served over the cap");
    // …and is served once it frees up.
    drop(held);
    read_200(&mut second).await;
}

#[tokio::test]
async fn a_body_that_never_finishes_gets_408_json() {
    let app = spawn_app_with(|c| c.request_timeout_secs = 1).await;
    let mut s = raw_sent(&app, b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"to\":").await;
    let mut buf = Vec::new();
    within(10, "an answer", s.read_to_end(&mut buf))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""error":"request_timeout""#), "{text}");
}

#[test]
fn every_flag_is_in_help_and_in_the_readme_table() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_kez-chat-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let flags =
        |text: &str, line_filter: &dyn Fn(&str) -> bool| -> std::collections::BTreeSet<String> {
            text.lines()
                .filter(|l| line_filter(l))
                .flat_map(|l| {
                    l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                        .filter(|w| w.starts_with("--") && w.len() > 2)
                        .map(str::to_owned)
                        .take(1)
                        .collect::<Vec<_>>()
                })
                .filter(|f| f != "--help" && f != "--version")
                .collect()
        };
    let help = String::from_utf8(help.stdout).unwrap();
    let in_help = flags(&help, &|l| l.trim_start().starts_with("--"));
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let in_readme = flags(&readme, &|l| l.starts_with("| `--"));
    assert!(in_help.len() >= 20, "{in_help:?}");
    assert_eq!(in_help, in_readme, "README flags table and --help disagree");
    // Every flag has an environment variable too.
    for f in &in_help {
        let env = format!(
            "KEZ_CHAT_{}",
            f.trim_start_matches("--").replace('-', "_").to_uppercase()
        );
        assert!(help.contains(&env), "{f} has no {env}");
    }
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let app = spawn_app_with(|c| c.max_connections_per_ip = 2).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = raw_sent(&app, HEALTHZ).await;
        read_200(&mut s).await;
        held.push(s);
    }
    // A third from the same address is closed without an answer.
    let mut third = TcpStream::connect(app.addr()).await.unwrap();
    let _ = third.write_all(HEALTHZ).await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "third connection was served: {buf:?}"
    );
    // Freeing a slot lets the address in again (once the server has seen
    // the close, which a loaded machine may take a moment to get to).
    drop(held.pop());
    wait_for(10, "a freed slot to be reusable", async || {
        let res = app.client.get(app.url("/v1/healthz")).send().await;
        res.is_ok_and(|r| r.status() == 200)
    })
    .await;
}

/// A server with the metrics listener on, and that listener's address.
async fn with_metrics(tweak: impl FnOnce(&mut kez_chat_server::config::Config)) -> TestApp {
    spawn_app_with(|c| {
        c.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
        tweak(c);
    })
    .await
}

fn metrics_addr(app: &TestApp) -> std::net::SocketAddr {
    app.server.as_ref().unwrap().metrics_addr.unwrap()
}

#[tokio::test]
async fn a_half_sent_request_to_metrics_does_not_block_shutdown() {
    // Arrange: headers that never end, and no header timeout to save us.
    let mut app = with_metrics(|c| c.header_timeout_secs = 3600).await;
    let mut half = TcpStream::connect(metrics_addr(&app)).await.unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The server has the connection once a full request on another is answered.
    let res = app
        .client
        .get(format!("http://{}/metrics", metrics_addr(&app)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Act + Assert: shutdown ends (the grace period bounds it).
    let server = app.server.take().unwrap();
    within(
        60,
        "shutdown with a half-sent metrics request",
        server.shutdown(),
    )
    .await;
}

#[tokio::test]
async fn slow_headers_to_metrics_are_cut_off() {
    let app = with_metrics(|c| c.header_timeout_secs = 1).await;
    let mut s = TcpStream::connect(metrics_addr(&app)).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the metrics listener kept a slowloris open");
}

#[tokio::test]
async fn metrics_connections_over_the_cap_wait() {
    let app = with_metrics(|_| {}).await;
    let connect = async || {
        let mut s = TcpStream::connect(metrics_addr(&app)).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        s
    };
    let mut held = Vec::new();
    for _ in 0..kez_chat_server::metrics::MAX_CONNECTIONS {
        let mut s = connect().await;
        let mut buf = [0u8; 64];
        assert!(within(10, "an answer", s.read(&mut buf)).await.unwrap() > 0);
        held.push(s);
    }
    let mut extra = connect().await;
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(200), extra.read(&mut buf)).await;
    assert!(early.is_err(), "a connection over the cap was served");
    drop(held.pop());
    assert!(
        within(10, "an answer once a slot frees", extra.read(&mut buf))
            .await
            .unwrap()
            > 0
    );
}

/// Starts the real binary under `prlimit --nofile=<soft>:<hard>`.
async fn spawn_under_nofile(soft: u64, hard: u64, dir: &tempfile::TempDir) -> (LoggedChild, Api) {
    let mut cmd = tokio::process::Command::new("prlimit");
    cmd.arg(format!("--nofile={soft}:{hard}"))
        .arg(env!("CARGO_BIN_EXE_kez-chat-server"))
        .args(["--bind", "127.0.0.1:0", "--server", SERVER])
        .arg("--db")
        .arg(dir.path().join("nofile.db"))
        .env("RUST_LOG", "info");
    cmd.args(database_args_for(&dir.path().join("nofile.db")).await);
    let (process, base) = LoggedChild::spawn(&mut cmd, "listening on ", 30).await;
    (process, Api::new(base))
}

/// Starts the real binary under `prlimit --nofile=<soft>:<hard>` and returns
/// its log up to "listening on".
async fn start_under_nofile(soft: u64, hard: u64) -> String {
    let dir = tempfile::tempdir().unwrap();
    spawn_under_nofile(soft, hard, &dir).await.0.kill().await
}

#[tokio::test]
async fn the_open_file_limit_is_raised_and_the_connection_cap_fits_under_it() {
    use kez_chat_server::server::fd_limit::RESERVED_FDS;
    // Soft 64 under a hard 4096: raised to 4096, the cap leaves room.
    let log = start_under_nofile(64, 4096).await;
    let cap = format!("max_connections={}", 4096 - RESERVED_FDS);
    assert!(log.contains("effective connection cap"), "{log}");
    assert!(
        log.contains(&cap) && log.contains("open_files_limit=Some(4096)"),
        "{log}"
    );
    // Nothing to raise to: --max-connections is lowered, and the log says so.
    let log = start_under_nofile(64, 64).await;
    assert!(log.contains("max_connections=32 "), "{log}");
    assert!(log.contains("--max-connections lowered"), "{log}");
}

#[tokio::test]
async fn more_clients_than_open_files_wait_instead_of_failing_accepts() {
    // Arrange: 64 open files, and more idle connections than that.
    let dir = tempfile::tempdir().unwrap();
    let (process, api) = spawn_under_nofile(64, 64, &dir).await;
    let addr = api.base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..80 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    // Act: the held connections go, a new client comes.
    let mut first = idle.remove(0);
    first.write_all(HEALTHZ).await.unwrap();
    let mut buf = [0u8; 64];
    drop(idle);
    assert!(within(30, "an answer", first.read(&mut buf)).await.unwrap() > 0);
    assert_eq!(api.get("/v1/healthz").await.status(), 200);

    // Assert: the cap held connections back; no descriptor ran out.
    let log = process.kill().await;
    assert!(!log.contains("accept failed"), "{log}");
}
