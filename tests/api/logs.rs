//! What the server writes to its log: never handles, keys or signatures in
//! clear, even at debug level.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::*;

#[tokio::test]
async fn logs_carry_no_handles_keys_or_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kez-chat-server"))
        .args(["--bind", "127.0.0.1:0", "--server", SERVER])
        .arg("--db")
        .arg(dir.path().join("logs.db"))
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let sink = log.clone();
    tokio::spawn(async move {
        let mut addr_tx = Some(addr_tx);
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("listening on ").nth(1)
                && let Some(tx) = addr_tx.take()
            {
                let _ = tx.send(rest.trim().to_owned());
            }
            let mut l = sink.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    let base = tokio::time::timeout(Duration::from_secs(30), addr_rx)
        .await
        .unwrap()
        .unwrap();
    let client = http_client();

    // Arrange: a distinctive handle, its key, a message and signed reads.
    let id = TestIdentity::generate();
    let handle = "zq7canaryhandle";
    let res = client
        .post(format!("{base}/v1/register"))
        .json(&id.registration(handle, SERVER))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body = message_body(handle, "canary-message-id-01", "SECRET-CIPHERTEXT");
    assert_eq!(
        client
            .post(format!("{base}/v1/messages"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let poll_auth = id.poll_auth(handle, 0);
    let res = client
        .get(format!("{base}/v1/inbox/{handle}?since=0"))
        .header("x-kez-auth", &poll_auth)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let stream_auth = id.stream_auth(handle);
    let res = client
        .get(format!(
            "{base}/v1/inbox/{handle}/stream?auth={stream_auth}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(res);
    // A failing lookup and a bad signature also log.
    client
        .get(format!("{base}/v1/u/{handle}x"))
        .send()
        .await
        .unwrap();
    client
        .get(format!(
            "{base}/v1/inbox/{handle}/stream?auth=1:{}",
            "ab".repeat(64)
        ))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Assert
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("/v1/inbox/{handle}/stream"),
        "request lines use route templates:\n{log}"
    );
    let key_hex = id.primary().trim_start_matches("ed25519:").to_owned();
    let poll_sig = poll_auth.split(':').nth(1).unwrap().to_owned();
    let stream_sig = stream_auth.split(':').nth(1).unwrap().to_owned();
    for secret in [
        handle,
        key_hex.as_str(),
        &poll_sig,
        &stream_sig,
        "SECRET-CIPHERTEXT",
        "canary-message-id-01",
        &"ab".repeat(64),
    ] {
        assert!(!log.contains(secret), "log contains {secret:?}:\n{log}");
    }
}
