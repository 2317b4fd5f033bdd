//! Durability under SIGKILL and SIGTERM: every acknowledged message survives.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

async fn start(db: &std::path::Path) -> BinaryServer {
    start_binary(db, "kez_chat_server=info", &[]).await
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    u64::from_le_bytes(b)
}

/// Posts from four concurrent writers until the server goes away; sends
/// each acknowledged id to `acks`.
fn spawn_writers(api: &Api, round: u64, acks: tokio::sync::mpsc::UnboundedSender<String>) {
    for w in 0..4 {
        let (api, acks) = (api.clone(), acks.clone());
        tokio::spawn(async move {
            for i in 0.. {
                let id = format!("r{round}-w{w}-{i:08}-crash");
                let sent = api
                    .client
                    .post(api.url("/v1/messages"))
                    .json(&message_body("bob", &id, "durable"))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 201 => {
                        let _ = acks.send(id);
                    }
                    _ => break,
                }
            }
        });
    }
}

/// Every message id in `handle`'s inbox, all pages.
async fn stored_ids(api: &Api, id: &TestIdentity, handle: &str) -> Vec<String> {
    let mut stored = Vec::new();
    let mut since = 0;
    loop {
        let page = api.poll(id, handle, since).await;
        for m in page["messages"].as_array().unwrap() {
            stored.push(m["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_u64() {
            Some(n) => since = n,
            None => return stored,
        }
    }
}

#[tokio::test]
async fn acknowledged_messages_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let bob = TestIdentity::generate();
    let mut acked: Vec<String> = Vec::new();
    for round in 0..3u64 {
        let server = start(&db).await;
        if round == 0 {
            server.register(&bob, "bob").await;
        }
        // Post from several concurrent writers and kill once a
        // pseudo-random number of posts were acknowledged, more in flight.
        let kill_after = acked.len() + 100 + (rand_u64() % 400) as usize;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        spawn_writers(&server.api, round, tx);
        within(30, "acknowledged posts", async {
            while acked.len() < kill_after {
                acked.push(rx.recv().await.expect("every writer stopped"));
            }
        })
        .await;
        server.process.kill().await;
        // The writers stop at their first failed post, dropping their senders.
        within(30, "the writers to stop", async {
            while let Some(id) = rx.recv().await {
                acked.push(id);
            }
        })
        .await;
    }
    assert!(!acked.is_empty());
    // Restart and check that every acknowledged id is in the inbox.
    let server = start(&db).await;
    let stored: std::collections::HashSet<String> =
        stored_ids(&server, &bob, "bob").await.into_iter().collect();
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages lost: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

/// Reads a response head (up to the blank line) from `conn`.
async fn read_head(conn: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(conn.read(&mut byte).await.unwrap(), 1, "connection closed");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A message post in flight: headers and half the body sent, and the
/// server reading the body (it asked for it with `100 Continue`). Returns
/// the connection and the rest of the body.
async fn half_sent_post(api: &Api, id: &str) -> (tokio::net::TcpStream, Vec<u8>) {
    let body = serde_json::to_vec(&message_body("bob", id, "late")).unwrap();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut conn = tokio::net::TcpStream::connect(api.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let request = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let interim = within(10, "100 Continue", read_head(&mut conn)).await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    conn.write_all(head).await.unwrap();
    (conn, tail.to_vec())
}

#[tokio::test]
async fn sigterm_ends_streams_and_closes_the_database_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("term.db");
    let mut server = start(&db).await;
    let bob = server.user("bob").await;
    assert_eq!(server.send("bob", "x").await.status(), 201);
    // An open stream must not keep the server from stopping.
    let stream = server
        .get(&format!(
            "/v1/inbox/bob/stream?auth={}",
            bob.stream_auth("bob")
        ))
        .await;
    assert_eq!(stream.status(), 200);
    let (mut conn, tail) = half_sent_post(&server, "in-flight-message-01").await;

    let pid = server.process.child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    // The in-flight request still completes and is stored.
    wait_for(10, "the server to start shutting down", async || {
        server.process.logged("shutting down")
    })
    .await;
    conn.write_all(&tail).await.unwrap();
    let mut response = Vec::new();
    within(
        10,
        "the in-flight request's answer",
        conn.read_to_end(&mut response),
    )
    .await
    .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let exit = within(15, "an exit after SIGTERM", server.process.child.wait())
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    // The stream ended instead of hanging.
    assert!(within(5, "the stream to end", stream.bytes()).await.is_ok());
    // The WAL was checkpointed into the main file on the way out.
    if !skip_on_postgres("the WAL check reads the SQLite file (the rest runs)") {
        let wal = std::fs::metadata(dir.path().join("term.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
        assert_eq!(wal, 0, "WAL not checkpointed at shutdown");
    }
    // And the late message is in the database.
    let server = start(&db).await;
    let ids = stored_ids(&server, &bob, "bob").await;
    assert!(ids.iter().any(|id| id == "in-flight-message-01"), "{ids:?}");
}

#[tokio::test]
async fn backup_writes_a_consistent_copy_while_the_server_runs() {
    if skip_on_postgres("--backup-to copies a SQLite file") {
        return;
    }
    let mut app = spawn_app().await;
    let bob = app.user("bob").await;
    for _ in 0..3 {
        assert_eq!(app.send("bob", "kept").await.status(), 201);
    }
    let dest = app.config.db.with_file_name("backup.db");
    let backup = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_kez-chat-server"))
            .arg("--db")
            .arg(&app.config.db)
            .arg("--backup-to")
            .arg(&dest)
            .output()
    };
    let out = backup().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second backup to the same file is refused, not overwritten.
    assert!(!backup().await.unwrap().status.success());
    // Serving the copy gives the same data.
    app.config.db = dest;
    app.restart().await;
    assert_eq!(app.inbox_len(&bob, "bob").await, 3);
}
