//! The server under test, in process (`spawn_app`) on 127.0.0.1:0 with a
//! fresh SQLite file (or, in the PostgreSQL pass, a fresh PostgreSQL
//! database: [`on_postgres`]), and `Api`, a typed client for any running server.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use kez_chat_server::config::Config;
use kez_chat_server::server::{self, RunningServer};
use serde_json::{Value, json};

use super::{TestIdentity, within};

/// The domain test servers answer for.
pub const SERVER: &str = "kez.test";

/// An HTTP client for tests. reqwest is built without a bundled TLS
/// provider (the server installs ring), so tests install it too.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A client bound to one server's base URL, with typed calls.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

/// A running in-process server plus what tests need to talk to it; derefs
/// to its `Api`.
pub struct TestApp {
    pub api: Api,
    pub server: Option<RunningServer>,
    pub config: Config,
    /// Keeps the temp directory (and its DB) alive as long as the app.
    pub _dir: Arc<tempfile::TempDir>,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// The push coalescing window of `test_config`: short, so pushes go out
/// at once.
pub const TEST_PUSH_COALESCE_MS: u64 = 50;

/// A config for tests: loopback, a temp DB, generous rate limits, and
/// pushes that go out (and retry) at once.
pub fn test_config(dir: &tempfile::TempDir) -> Config {
    let mut c = Config::defaults();
    c.bind = "127.0.0.1:0".parse().unwrap();
    c.db = dir.path().join("kez.db");
    c.server = SERVER.to_owned();
    c.message_rate_per_minute = 100_000;
    c.silent_rate_per_minute = 100_000;
    c.ephemeral_rate_per_minute = 100_000;
    c.register_rate_per_minute = 100_000;
    c.push_rate_per_minute = 100_000;
    c.profile_rate_per_minute = 100_000;
    c.sigchain_rate_per_minute = 100_000;
    c.proofs.proof_rate_per_minute = 100_000;
    // Tests open hundreds of connections from 127.0.0.1.
    c.max_connections_per_ip = 100_000;
    // Tests are not about the disk, and CI disks can be small.
    c.min_free_disk_mb = 0;
    // Tests that need a window or a retry wait set their own.
    c.push_coalesce_ms = TEST_PUSH_COALESCE_MS;
    c.push_max_retry_wait_secs = 0;
    c
}

/// Whether this run is the PostgreSQL pass (`KEZ_TEST_DATABASE=postgres`,
/// set by `scripts/test`): every server the helpers start stores in a
/// PostgreSQL database instead of its SQLite file.
pub fn on_postgres() -> bool {
    std::env::var("KEZ_TEST_DATABASE").as_deref() == Ok("postgres")
}

/// In the PostgreSQL pass, the database that stands for the SQLite file
/// `db`: a fresh one per path, the same one for the same path, so servers
/// given one `--db` share a database as they would share the file (two
/// instances, a restart, the binary started again). `None` on SQLite.
pub async fn database_url_for(db: &Path) -> Option<String> {
    static BY_PATH: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    if !on_postgres() {
        return None;
    }
    let known = |db: &Path| BY_PATH.lock().unwrap().as_ref()?.get(db).cloned();
    if let Some(url) = known(db) {
        return Some(url);
    }
    let fresh = super::postgres::fresh_database_url()
        .await
        .expect("KEZ_TEST_DATABASE=postgres, but there is no PostgreSQL to test on");
    // Two servers on one new path at once: the first database wins.
    let mut map = BY_PATH.lock().unwrap();
    let url = map
        .get_or_insert_default()
        .entry(db.to_owned())
        .or_insert(fresh);
    Some(url.clone())
}

/// The binary's flags for the database standing for `db`
/// ([`database_url_for`]) and the test cluster's CA; none on SQLite.
pub async fn database_args_for(db: &Path) -> Vec<std::ffi::OsString> {
    let Some(url) = database_url_for(db).await else {
        return Vec::new();
    };
    let ca = super::postgres::ca_file().expect("the test PostgreSQL runs");
    vec![
        "--database-url".into(),
        url.into(),
        "--database-ca-file".into(),
        ca.into(),
    ]
}

/// Prints why a test does not apply in the PostgreSQL pass and returns true
/// there (the test then returns early); false on SQLite.
pub fn skip_on_postgres(why: &str) -> bool {
    if on_postgres() {
        eprintln!("SKIPPED on PostgreSQL: {why}");
    }
    on_postgres()
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
    if config.database_url.is_none()
        && let Some(url) = database_url_for(&config.db).await
    {
        config.database_url = Some(url.parse().unwrap());
        config.database_ca_file = super::postgres::ca_file();
    }
    let server = server::start(config.clone()).await.expect("server starts");
    TestApp {
        api: Api::new(format!("http://{}", server.addr)),
        server: Some(server),
        config,
        _dir: dir,
    }
}

impl TestApp {
    /// Stops the server gracefully and starts a new one on the same DB.
    pub async fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        let server = server::start(self.config.clone())
            .await
            .expect("server restarts");
        self.api.base = format!("http://{}", server.addr);
        self.server = Some(server);
    }

    /// The running server's shared state.
    pub fn state(&self) -> &kez_chat_server::state::AppState {
        &self.server.as_ref().expect("server running").state
    }

    /// `host:port` of the running server, for raw TCP.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.as_ref().expect("server running").addr
    }

    /// `http://host:port/metrics` (the app must have `metrics_bind` set).
    pub fn metrics_url(&self) -> String {
        let server = self.server.as_ref().expect("server running");
        let addr = server.metrics_addr.expect("metrics_bind set");
        format!("http://{addr}/metrics")
    }

    /// Opens `handle`'s SSE stream on a raw connection that never reads a
    /// byte (a stalled reader), sending `extra_headers` (each ending in CRLF).
    pub async fn stalled_stream(
        &self,
        id: &TestIdentity,
        handle: &str,
        extra_headers: &str,
    ) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt as _;
        let addr = self.addr();
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /v1/inbox/{handle}/stream?auth={} HTTP/1.1\r\nhost: {addr}\r\n{extra_headers}\r\n",
            id.stream_auth(handle)
        );
        conn.write_all(request.as_bytes()).await.unwrap();
        conn
    }

    /// The OpenMetrics text of one scrape.
    pub async fn metrics_text(&self) -> String {
        let res = self.client.get(self.metrics_url()).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    }
}

impl Api {
    pub fn new(base: String) -> Self {
        Self {
            base,
            client: http_client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path).await
    }

    /// A request without a body.
    pub async fn request(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .send()
            .await
            .unwrap()
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

    /// A new identity, registered as `handle`.
    pub async fn user(&self, handle: &str) -> TestIdentity {
        let id = TestIdentity::generate();
        self.register(&id, handle).await;
        id
    }

    /// `user` with an owned handle, for many registrations at once.
    pub async fn user_owned(&self, handle: String) -> TestIdentity {
        self.user(&handle).await
    }

    /// Posts a message with a fresh random id.
    pub async fn send(&self, to: &str, text: &str) -> reqwest::Response {
        self.post_json("/v1/messages", &message_body(to, &random_id(), text))
            .await
    }

    /// Posts `n` messages to `to` at once ("`label` 0", "`label` 1", …)
    /// and asserts each was stored.
    pub async fn send_concurrently(&self, to: &str, n: usize, label: &str) {
        let texts: Vec<String> = (0..n).map(|i| format!("{label} {i}")).collect();
        let posts = texts.iter().map(|t| self.send(to, t));
        for res in futures_util::future::join_all(posts).await {
            assert_eq!(res.status(), 201);
        }
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

    /// How many messages the first page of `handle`'s inbox holds.
    pub async fn inbox_len(&self, id: &TestIdentity, handle: &str) -> usize {
        self.poll(id, handle, 0).await["messages"]
            .as_array()
            .unwrap()
            .len()
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
        events(res)
    }
}

/// The SSE events of a stream response.
pub fn events(
    res: reqwest::Response,
) -> impl Stream<Item = eventsource_stream::Event> + Unpin + use<> {
    Box::pin(
        res.bytes_stream()
            .eventsource()
            .filter_map(|e| async move { e.ok() }),
    )
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
    within(10, "a message event", fut).await
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

/// Header `name` of `res` as text; panics when it is missing.
pub fn header<'r>(res: &'r reqwest::Response, name: &str) -> &'r str {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}
