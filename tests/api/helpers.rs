//! `spawn_app` and typed helpers shared by every integration test.

use std::sync::Arc;

use ed25519_dalek::{Signer, SigningKey};
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use kez_chat_server::config::Config;
use kez_chat_server::kez::{auth, json};
use kez_chat_server::server::{self, RunningServer};
use serde_json::{Value, json};

/// The domain test servers answer for.
pub const SERVER: &str = "kez.test";

/// A running server plus what tests need to talk to it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub server: Option<RunningServer>,
    pub config: Config,
    /// Keeps the temp directory (and its DB) alive as long as the app.
    pub _dir: Arc<tempfile::TempDir>,
}

/// An HTTP client for tests. reqwest is built without a bundled TLS
/// provider (the server installs ring), so tests install it too.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// The real binary, started as a child process, and everything it logged.
pub struct BinaryServer {
    pub child: tokio::process::Child,
    pub base: String,
    pub log: Arc<std::sync::Mutex<String>>,
}

/// Starts `kez-chat-server` on 127.0.0.1:0 with `db`, waits for its
/// "listening on" line and keeps collecting its log.
pub async fn start_binary(
    db: &std::path::Path,
    rust_log: &str,
    extra_args: &[&str],
) -> BinaryServer {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kez-chat-server"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--server",
            SERVER,
            "--message-rate-per-minute",
            "1000000",
        ])
        .arg("--db")
        .arg(db)
        .args(extra_args)
        .env("RUST_LOG", rust_log)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = Arc::new(std::sync::Mutex::new(String::new()));
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let sink = log.clone();
    // Keep draining stderr so the child never blocks on a full pipe.
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
    let base = tokio::time::timeout(std::time::Duration::from_secs(30), addr_rx)
        .await
        .expect("server did not start in 30 s")
        .expect("server exited before listening");
    BinaryServer { child, base, log }
}

/// A config for tests: loopback, a temp DB, generous rate limits.
pub fn test_config(dir: &tempfile::TempDir) -> Config {
    let mut c = Config::defaults();
    c.bind = "127.0.0.1:0".parse().unwrap();
    c.db = dir.path().join("kez.db");
    c.server = SERVER.to_owned();
    c.message_rate_per_minute = 100_000;
    c.register_rate_per_minute = 100_000;
    c.push_rate_per_minute = 100_000;
    // Tests open hundreds of connections from 127.0.0.1.
    c.max_connections_per_ip = 100_000;
    // Tests are not about the disk, and CI disks can be small.
    c.min_free_disk_mb = 0;
    c
}

/// Starts a server with the test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after `tweak` adjusts the test config.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(&dir);
    tweak(&mut config);
    let server = server::start(config.clone()).await.expect("server starts");
    TestApp {
        base: format!("http://{}", server.addr),
        client: http_client(),
        server: Some(server),
        config,
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server gracefully and starts a new one on the same DB.
    pub async fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        let server = server::start(self.config.clone())
            .await
            .expect("server restarts");
        self.base = format!("http://{}", server.addr);
        self.server = Some(server);
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Registers `handle` for `id` and asserts success.
    pub async fn register(&self, id: &TestIdentity, handle: &str) -> Value {
        let res = self
            .post_json("/v1/register", &id.registration(handle, SERVER))
            .await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 201, "registration of {handle} failed: {body}");
        body
    }

    /// Posts a message with a fresh random id.
    pub async fn send(&self, to: &str, text: &str) -> reqwest::Response {
        self.post_json("/v1/messages", &message_body(to, &random_id(), text))
            .await
    }

    /// Polls `handle`'s inbox with a valid signature.
    pub async fn poll(&self, id: &TestIdentity, handle: &str, since: u64) -> Value {
        let res = self
            .client
            .get(self.url(&format!("/v1/inbox/{handle}?since={since}")))
            .header("x-kez-auth", id.poll_auth(handle, since))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// Opens an SSE stream and returns its parsed events.
    pub async fn open_stream(
        &self,
        id: &TestIdentity,
        handle: &str,
        last_event_id: Option<u64>,
    ) -> impl Stream<Item = eventsource_stream::Event> + Unpin + use<> {
        let mut req = self.client.get(self.url(&format!(
            "/v1/inbox/{handle}/stream?auth={}",
            id.stream_auth(handle)
        )));
        if let Some(l) = last_event_id {
            req = req.header("last-event-id", l.to_string());
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Box::pin(
            res.bytes_stream()
                .eventsource()
                .filter_map(|e| async move { e.ok() }),
        )
    }
}

/// Next `message` event (skipping others) within 10 s, parsed.
pub async fn next_message(
    stream: &mut (impl Stream<Item = eventsource_stream::Event> + Unpin),
) -> Value {
    let fut = async {
        loop {
            let ev = stream.next().await.expect("stream ended");
            if ev.event == "message" {
                let data: Value = serde_json::from_str(&ev.data).unwrap();
                assert_eq!(ev.id, data["seq"].to_string());
                return data;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), fut)
        .await
        .expect("no message event within 10 s")
}

/// A message POST body with an opaque stand-in envelope.
pub fn message_body(to: &str, id: &str, text: &str) -> Value {
    json!({"to": to, "id": id, "envelope": {"v": 2, "ct": text}})
}

/// A fresh valid client message id.
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap();
    hex::encode(b)
}

/// A keypair acting as a user.
pub struct TestIdentity {
    pub sk: SigningKey,
}

impl TestIdentity {
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        Self {
            sk: SigningKey::from_bytes(&seed),
        }
    }

    pub fn primary(&self) -> String {
        format!(
            "ed25519:{}",
            hex::encode(self.sk.verifying_key().as_bytes())
        )
    }

    pub fn sign_hex(&self, msg: &[u8]) -> String {
        hex::encode(self.sk.sign(msg).to_bytes())
    }

    pub fn registration_payload(&self, handle: &str, server: &str) -> Value {
        json!({"type": "kez.chat.handle_registration", "version": 1, "handle": handle,
               "primary": self.primary(), "server": server,
               "created_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)})
    }

    /// A registration envelope signed over `payload` as given.
    pub fn sign_envelope(&self, payload: Value) -> Value {
        let sig = self.sign_hex(&json::canonical_bytes(&payload));
        json!({"kez": "handle_registration", "payload": payload,
               "signature": {"alg": "ed25519-sha512-jcs", "key": self.primary(), "sig": sig}})
    }

    pub fn registration(&self, handle: &str, server: &str) -> Value {
        self.sign_envelope(self.registration_payload(handle, server))
    }

    pub fn poll_auth_at(&self, handle: &str, since: u64, ts: i64) -> String {
        format!(
            "{ts}:{}",
            self.sign_hex(auth::poll_string(handle, since, ts).as_bytes())
        )
    }

    pub fn poll_auth(&self, handle: &str, since: u64) -> String {
        self.poll_auth_at(handle, since, chrono::Utc::now().timestamp())
    }

    pub fn stream_auth_at(&self, handle: &str, ts: i64) -> String {
        format!(
            "{ts}:{}",
            self.sign_hex(auth::stream_string(handle, ts).as_bytes())
        )
    }

    pub fn stream_auth(&self, handle: &str) -> String {
        self.stream_auth_at(handle, chrono::Utc::now().timestamp())
    }
}

/// Asserts the status and the JSON error code of a response.
pub async fn assert_error(res: reqwest::Response, status: u16, code: &str) -> Value {
    let got = res.status().as_u16();
    let body: Value = res.json().await.expect("error body is JSON");
    assert_eq!(
        (got, body["error"].as_str().unwrap_or("")),
        (status, code),
        "body: {body}"
    );
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body
}
