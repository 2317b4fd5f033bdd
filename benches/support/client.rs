//! The load generator's side: users, idle streams over raw TCP, posts.

use std::net::SocketAddr;
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use kez_chat_server::kez::{auth, json};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::server::SERVER;

/// A registered handle and its key.
pub(crate) struct User {
    sk: SigningKey,
    pub(crate) handle: String,
}

impl User {
    pub(crate) fn new(i: usize) -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("rng");
        Self {
            sk: SigningKey::from_bytes(&seed),
            handle: format!("user{i:05}"),
        }
    }

    fn primary(&self) -> String {
        format!(
            "ed25519:{}",
            hex::encode(self.sk.verifying_key().as_bytes())
        )
    }

    pub(crate) fn registration(&self) -> Value {
        let payload = json!({"type": "kez.chat.handle_registration", "version": 1,
            "handle": self.handle, "primary": self.primary(), "server": SERVER,
            "created_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)});
        let sig = hex::encode(self.sk.sign(&json::canonical_bytes(&payload)).to_bytes());
        json!({"kez": "handle_registration", "payload": payload,
               "signature": {"alg": "ed25519-sha512-jcs", "key": self.primary(), "sig": sig}})
    }

    /// Path and query of an authenticated stream open (SPEC §7.4), signed now.
    pub(crate) fn stream_path(&self) -> String {
        let ts = chrono::Utc::now().timestamp();
        let sig = hex::encode(
            self.sk
                .sign(auth::stream_string(SERVER, &self.handle, ts).as_bytes())
                .to_bytes(),
        );
        format!("/v1/inbox/{}/stream?auth={ts}:{sig}", self.handle)
    }
}

/// An envelope whose JSON is about `bytes` long.
pub(crate) fn envelope(bytes: usize) -> Value {
    let fixed = json!({"v": 2, "epk": "00".repeat(32), "nonce": "00".repeat(12), "ct": ""})
        .to_string()
        .len();
    json!({"v": 2, "epk": "00".repeat(32), "nonce": "00".repeat(12),
           "ct": "A".repeat(bytes.saturating_sub(fixed))})
}

/// Opens a stream on its own TCP connection, resuming past any stored
/// message (so nothing replays), waits for the response head, then drains
/// it on a task until aborted. Aborting the task closes the socket.
pub(crate) async fn open_idle(addr: SocketAddr, path: String) -> anyhow::Result<JoinHandle<()>> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\nlast-event-id: 999999999999\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await??;
        anyhow::ensure!(n > 0, "stream closed before its head");
        head.extend_from_slice(&buf[..n]);
        anyhow::ensure!(head.len() < 8192, "stream head too long");
    }
    anyhow::ensure!(
        head.starts_with(b"HTTP/1.1 200"),
        "stream open refused: {}",
        String::from_utf8_lossy(&head[..head.len().min(64)])
    );
    Ok(tokio::spawn(async move {
        let mut buf = [0u8; 256];
        while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
    }))
}

/// Each user's signed stream path. Signing is the clients' work, done on
/// their own devices: the bench does it before it starts a clock.
pub(crate) fn stream_paths(users: &[User]) -> Vec<String> {
    users.iter().map(User::stream_path).collect()
}

/// Opens one idle stream per signed path, `batch` at a time; returns the drains.
pub(crate) async fn open_many(
    addr: SocketAddr,
    paths: &[String],
    batch: usize,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut open = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(batch) {
        let opens = chunk.iter().map(|p| open_idle(addr, p.clone()));
        for r in futures_util::future::join_all(opens).await {
            open.push(r?);
        }
    }
    Ok(open)
}

/// Closes streams by aborting their drains (dropping their sockets).
pub(crate) fn close_all(streams: Vec<JoinHandle<()>>) {
    for s in streams {
        s.abort();
    }
}

/// Registers every user, 50 at a time.
pub(crate) async fn register(
    client: &reqwest::Client,
    base: &str,
    users: &[User],
) -> anyhow::Result<()> {
    for chunk in users.chunks(50) {
        let regs = chunk.iter().map(|u| {
            client
                .post(format!("{base}/v1/register"))
                .json(&u.registration())
                .send()
        });
        for r in futures_util::future::join_all(regs).await {
            anyhow::ensure!(r?.status() == 201, "registration failed");
        }
    }
    Ok(())
}

/// Posts one message and returns its seq (a 201 is after the fsync).
pub(crate) async fn post(
    client: &reqwest::Client,
    base: &str,
    to: &str,
    id: &str,
    env: &Value,
) -> anyhow::Result<u64> {
    let body = json!({"to": to, "id": id, "envelope": env});
    let r = client
        .post(format!("{base}/v1/messages"))
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 201, "post answered {}", r.status());
    Ok(r.json::<Value>().await?["seq"].as_u64().unwrap_or(0))
}
