//! Durability under SIGKILL: every acknowledged message survives.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

async fn start(db: &std::path::Path) -> (tokio::process::Child, String) {
    let server = start_binary(db, "kez_chat_server=info", &[]).await;
    (server.child, server.base)
}

#[tokio::test]
async fn acknowledged_messages_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let bob = TestIdentity::generate();
    let client = http_client();
    let mut acked: Vec<String> = Vec::new();
    for round in 0..3u64 {
        let (mut child, base) = start(&db).await;
        if round == 0 {
            let res = client
                .post(format!("{base}/v1/register"))
                .json(&bob.registration("bob", SERVER))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
        }
        // Post from several concurrent writers and kill at a pseudo-random moment.
        let kill_after = Duration::from_millis(150 + (rand_u64() % 350));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut writers = Vec::new();
        for w in 0..4 {
            let (client, base, tx) = (client.clone(), base.clone(), tx.clone());
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let id = format!("r{round}-w{w}-{i:08}-crash");
                    match client
                        .post(format!("{base}/v1/messages"))
                        .json(&message_body("bob", &id, "durable"))
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 201 => {
                            let _ = tx.send(id);
                        }
                        _ => break,
                    }
                }
            }));
        }
        drop(tx);
        tokio::time::sleep(kill_after).await;
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        for w in writers {
            let _ = w.await;
        }
        while let Ok(id) = rx.try_recv() {
            acked.push(id);
        }
    }
    assert!(!acked.is_empty());
    // Restart and check that every acknowledged id is in the inbox.
    let (_child, base) = start(&db).await;
    let mut stored = std::collections::HashSet::new();
    let mut since = 0;
    loop {
        let res = client
            .get(format!("{base}/v1/inbox/bob?since={since}"))
            .header("x-kez-auth", bob.poll_auth("bob", since))
            .send()
            .await
            .unwrap();
        let page: Value = res.json().await.unwrap();
        for m in page["messages"].as_array().unwrap() {
            stored.insert(m["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_u64() {
            Some(n) => since = n,
            None => break,
        }
    }
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages lost: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    u64::from_le_bytes(b)
}

#[tokio::test]
async fn sigterm_ends_streams_and_closes_the_database_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("term.db");
    let (mut child, base) = start(&db).await;
    let client = http_client();
    let bob = TestIdentity::generate();
    let res = client
        .post(format!("{base}/v1/register"))
        .json(&bob.registration("bob", SERVER))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = client
        .post(format!("{base}/v1/messages"))
        .json(&message_body("bob", &random_id(), "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // An open stream must not keep the server from stopping.
    let stream = client
        .get(format!(
            "{base}/v1/inbox/bob/stream?auth={}",
            bob.stream_auth("bob")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // A request in flight: headers and half the body sent.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = serde_json::to_vec(&message_body("bob", "in-flight-message-01", "late")).unwrap();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut conn = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let request = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    conn.write_all(head).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    // The in-flight request still completes and is stored.
    tokio::time::sleep(Duration::from_millis(300)).await;
    conn.write_all(tail).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut response))
        .await
        .expect("the in-flight request got no answer")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("no exit after SIGTERM")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    // The stream ended instead of hanging.
    let body = tokio::time::timeout(Duration::from_secs(5), stream.bytes())
        .await
        .expect("stream still open");
    assert!(body.is_ok());
    // The WAL was checkpointed into the main file on the way out.
    let wal = std::fs::metadata(dir.path().join("term.db-wal"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert_eq!(wal, 0, "WAL not checkpointed at shutdown");
    // And the late message is in the database.
    let (_child, base) = start(&db).await;
    let inbox: serde_json::Value = client
        .get(format!("{base}/v1/inbox/bob?since=0"))
        .header("x-kez-auth", bob.poll_auth("bob", 0))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"in-flight-message-01"), "{ids:?}");
}

#[tokio::test]
async fn backup_writes_a_consistent_copy_while_the_server_runs() {
    let mut app = spawn_app().await;
    let bob = TestIdentity::generate();
    app.register(&bob, "bob").await;
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
    assert_eq!(
        app.poll(&bob, "bob", 0).await["messages"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}
