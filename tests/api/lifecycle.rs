//! Startup, restart and connection-level protections.

use std::time::Duration;

use kez_chat_server::server;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

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
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /v1/healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Never finish the headers: the server must hang up on its own.
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "server kept a slowloris connection open");
    // A well-behaved client still gets through.
    assert_eq!(app.get("/v1/healthz").await.status(), 200);
}

#[tokio::test]
async fn connections_over_the_cap_wait_instead_of_being_served() {
    let app = spawn_app_with(|c| c.max_connections = 1).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Hold the only slot with an idle keep-alive connection.
    let mut held = tokio::net::TcpStream::connect(&addr).await.unwrap();
    held.write_all(b"GET /v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = held.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // A second client is not served while the slot is held...
    let second = http_client();
    let pending = tokio::spawn({
        let url = app.url("/v1/healthz");
        async move { second.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !pending.is_finished(),
        "second connection was served over the cap"
    );
    // ...and is served once it frees up.
    drop(held);
    let status = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_body_that_never_finishes_gets_408_json() {
    let app = spawn_app_with(|c| c.request_timeout_secs = 1).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"to\":")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("server never answered")
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
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    // A third from the same address is closed without an answer.
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _ = third
        .write_all(b"GET /v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "third connection was served: {buf:?}"
    );
    // Freeing a slot lets the address in again (once the server has seen
    // the close, which a loaded machine may take a moment to get to).
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let res = app.client.get(app.url("/v1/healthz")).send().await;
        if res.as_ref().is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a freed slot was never reusable: {res:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
