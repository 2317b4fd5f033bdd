//! Web Push (SPEC §10) against a stand-in push service: a real local HTTP
//! server that verifies every VAPID JWT, checks the headers, records what it
//! got, and answers as each test tells it to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kez_chat_server::push;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::{Value, json};

use crate::helpers::*;

// ---------------------------------------------------------------------------
// The stand-in push service

/// How the stand-in answers pushes to one path.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Created,
    Status(u16),
    /// Answer `status` (with `Retry-After: 1`) this many times, then 201.
    FailThenCreated(u16, u32),
    /// Never answer (well, not for a minute).
    Hang,
    /// Always 429 with `Retry-After: 30`.
    Throttled,
}

#[derive(Debug, Clone)]
struct Received {
    path: String,
    body_len: usize,
    content_length: Option<String>,
    status: u16,
}

#[derive(Default)]
struct PushLog {
    expected_key: String,
    modes: HashMap<String, Mode>,
    received: Vec<Received>,
    problems: Vec<String>,
    hanging: usize,
}

#[derive(Clone)]
struct PushService {
    origin: String,
    log: Arc<Mutex<PushLog>>,
}

impl PushService {
    async fn start(expected_key: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let svc = Self {
            origin,
            log: Arc::new(Mutex::new(PushLog {
                expected_key: expected_key.to_owned(),
                ..PushLog::default()
            })),
        };
        let app = axum::Router::new()
            .fallback(accept_push)
            .with_state(svc.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        svc
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    fn set_mode(&self, path: &str, mode: Mode) {
        self.log.lock().unwrap().modes.insert(path.to_owned(), mode);
    }

    fn received(&self, path: &str) -> Vec<Received> {
        let log = self.log.lock().unwrap();
        log.received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    fn total(&self) -> usize {
        self.log.lock().unwrap().received.len()
    }

    fn hanging(&self) -> usize {
        self.log.lock().unwrap().hanging
    }

    fn assert_no_problems(&self) {
        let log = self.log.lock().unwrap();
        assert!(
            log.problems.is_empty(),
            "push checks failed: {:?}",
            log.problems
        );
    }
}

async fn accept_push(
    State(svc): State<PushService>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let problems = {
        let log = svc.log.lock().unwrap();
        check_push(&svc.origin, &log.expected_key, &method, &headers)
    };
    let mode = {
        let mut log = svc.log.lock().unwrap();
        let mode = log.modes.get(&path).copied().unwrap_or(Mode::Created);
        if let Mode::FailThenCreated(s, n) = mode {
            let next = if n > 1 {
                Mode::FailThenCreated(s, n - 1)
            } else {
                Mode::Created
            };
            log.modes.insert(path.clone(), next);
        }
        log.problems
            .extend(problems.iter().map(|p| format!("{path}: {p}")));
        mode
    };
    let (status, retry_after) = match mode {
        Mode::Created => (201, None),
        Mode::Status(s) => (s, None),
        Mode::FailThenCreated(s, _) => (s, Some("1")),
        Mode::Throttled => (429, Some("30")),
        Mode::Hang => {
            svc.log.lock().unwrap().hanging += 1;
            tokio::time::sleep(Duration::from_secs(60)).await;
            (201, None)
        }
    };
    let status = if problems.is_empty() { status } else { 400 };
    svc.log.lock().unwrap().received.push(Received {
        path,
        body_len: body.len(),
        content_length: headers
            .get("content-length")
            .map(|v| v.to_str().unwrap().to_owned()),
        status,
    });
    let mut res = StatusCode::from_u16(status).unwrap().into_response();
    if let Some(secs) = retry_after {
        res.headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static(secs));
    }
    res
}

/// Everything a real push service checks (RFC 8030 + RFC 8292), as a list
/// of what is wrong.
fn check_push(
    origin: &str,
    expected_key: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Vec<String> {
    let mut problems = Vec::new();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if method != Method::POST {
        problems.push(format!("method {method}"));
    }
    if header("ttl").and_then(|v| v.parse::<u32>().ok()).is_none() {
        problems.push("TTL missing or not a number".to_owned());
    }
    if header("urgency") != Some("high") {
        problems.push(format!("urgency {:?}", header("urgency")));
    }
    if header("content-encoding").is_some() {
        problems.push("content-encoding on an empty push".to_owned());
    }
    let Some(auth) = header("authorization") else {
        problems.push("no Authorization".to_owned());
        return problems;
    };
    let Some((t, k)) = auth
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
    else {
        problems.push(format!("Authorization is not `vapid t=.., k=..`: {auth}"));
        return problems;
    };
    if k != expected_key {
        problems.push("k= is not the server's VAPID public key".to_owned());
    }
    let parts: Vec<&str> = t.split('.').collect();
    if parts.len() != 3 {
        problems.push("JWT does not have three parts".to_owned());
        return problems;
    }
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap_or_default();
    let jwt_header: Value = serde_json::from_slice(&decode(parts[0])).unwrap_or(Value::Null);
    let claims: Value = serde_json::from_slice(&decode(parts[1])).unwrap_or(Value::Null);
    if jwt_header["alg"] != "ES256" || jwt_header["typ"] != "JWT" {
        problems.push(format!("JWT header {jwt_header}"));
    }
    if claims["aud"] != origin {
        problems.push(format!("aud {} is not {origin}", claims["aud"]));
    }
    let now = chrono::Utc::now().timestamp();
    match claims["exp"].as_i64() {
        Some(exp) if exp > now && exp <= now + 24 * 3600 => {}
        other => problems.push(format!("exp {other:?} not within (now, now + 24 h]")),
    }
    if !claims["sub"]
        .as_str()
        .is_some_and(|s| s.starts_with("mailto:") || s.starts_with("https:"))
    {
        problems.push(format!("sub {}", claims["sub"]));
    }
    let verified = VerifyingKey::from_sec1_bytes(&decode(k))
        .ok()
        .zip(Signature::from_slice(&decode(parts[2])).ok())
        .is_some_and(|(vk, sig)| {
            vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
                .is_ok()
        });
    if !verified {
        problems.push("ES256 signature does not verify against k=".to_owned());
    }
    problems
}

// ---------------------------------------------------------------------------
// Client side helpers

async fn insecure_app() -> TestApp {
    spawn_app_with(|c| c.allow_insecure_push_endpoints = true).await
}

async fn vapid_key(app: &TestApp) -> String {
    let res = app.get("/v1/push/vapid-public-key").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["key"].as_str().unwrap().to_owned()
}

/// A browser-like `keys` object: a real P-256 point and a 16-byte secret.
fn browser_keys() -> Value {
    let mut auth = [0u8; 16];
    getrandom::fill(&mut auth).unwrap();
    json!({"p256dh": push::VapidKey::generate().public_b64(), "auth": URL_SAFE_NO_PAD.encode(auth)})
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn signed(id: &TestIdentity, string: &str, ts: i64) -> String {
    format!("{ts}:{}", id.sign_hex(string.as_bytes()))
}

async fn post_sub(app: &TestApp, body: &Value, auth: Option<String>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/v1/push/subscriptions"))
        .json(body);
    if let Some(a) = auth {
        req = req.header("x-kez-auth", a);
    }
    req.send().await.unwrap()
}

async fn subscribe(
    app: &TestApp,
    id: &TestIdentity,
    handle: &str,
    endpoint: &str,
) -> reqwest::Response {
    let auth = signed(id, &push::subscribe_string(handle, endpoint, now()), now());
    post_sub(
        app,
        &json!({"handle": handle, "endpoint": endpoint, "keys": browser_keys()}),
        Some(auth),
    )
    .await
}

async fn delete_sub(
    app: &TestApp,
    handle: &str,
    endpoint: &str,
    auth: String,
) -> reqwest::Response {
    app.client
        .delete(app.url("/v1/push/subscriptions"))
        .header("x-kez-auth", auth)
        .json(&json!({"handle": handle, "endpoint": endpoint}))
        .send()
        .await
        .unwrap()
}

async fn check_sub(app: &TestApp, handle: &str, endpoint: &str, auth: String) -> reqwest::Response {
    let mut url = url::Url::parse(&app.url(&format!("/v1/push/subscriptions/{handle}"))).unwrap();
    url.query_pairs_mut().append_pair("endpoint", endpoint);
    app.client
        .get(url)
        .header("x-kez-auth", auth)
        .send()
        .await
        .unwrap()
}

/// The self-heal check with a valid signature.
async fn is_subscribed(app: &TestApp, id: &TestIdentity, handle: &str, endpoint: &str) -> bool {
    let auth = signed(id, &push::check_string(handle, endpoint, now()), now());
    let res = check_sub(app, handle, endpoint, auth).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["subscribed"].as_bool().unwrap()
}

fn stats(app: &TestApp) -> push::PushStats {
    app.server.as_ref().unwrap().state.push.stats()
}

/// Polls `cond` every 50 ms for up to `secs` seconds.
async fn wait_for(secs: u64, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// An insecure-mode app, a stand-in push service answering `path` with
/// `mode`, and bob registered and subscribed there.
async fn bob_subscribed(path: &str, mode: Mode) -> (TestApp, PushService, TestIdentity) {
    let app = insecure_app().await;
    let ps = PushService::start(&vapid_key(&app).await).await;
    let bob = TestIdentity::generate();
    app.register(&bob, "bob").await;
    ps.set_mode(path, mode);
    let res = subscribe(&app, &bob, "bob", &ps.endpoint(path)).await;
    assert_eq!(res.status(), 201);
    (app, ps, bob)
}

/// Long enough for a coalescing window plus a local delivery.
fn settle() -> Duration {
    let window = kez_chat_server::config::Config::defaults().push_coalesce_ms;
    Duration::from_millis(window + 1500)
}

// ---------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn the_vapid_key_is_a_p256_point_and_survives_a_restart() {
    let mut app = spawn_app().await;
    let key = vapid_key(&app).await;
    let raw = URL_SAFE_NO_PAD.decode(&key).unwrap();
    assert_eq!((raw.len(), raw[0]), (65, 0x04));
    assert!(VerifyingKey::from_sec1_bytes(&raw).is_ok());

    app.restart().await;
    assert_eq!(vapid_key(&app).await, key);
}

#[tokio::test]
async fn subscription_requests_must_be_signed_by_the_handle_for_that_endpoint() {
    // Arrange
    let app = insecure_app().await;
    let bob = TestIdentity::generate();
    let mallory = TestIdentity::generate();
    app.register(&bob, "bob").await;
    app.register(&mallory, "mallory").await;
    let e = "http://127.0.0.1:9/push/bob";
    let body = json!({"handle": "bob", "endpoint": e, "keys": browser_keys()});
    let t = now();

    // POST: good, then refreshed
    let res = post_sub(
        &app,
        &body,
        Some(signed(&bob, &push::subscribe_string("bob", e, t), t)),
    )
    .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created, json!({"subscribed": true, "evicted": 0}));
    let res = post_sub(
        &app,
        &body,
        Some(signed(&bob, &push::subscribe_string("bob", e, t), t)),
    )
    .await;
    assert_eq!(res.status(), 200);

    // POST refusals
    assert_error(post_sub(&app, &body, None).await, 401, "missing_auth").await;
    assert_error(
        post_sub(&app, &body, Some("nope".into())).await,
        401,
        "malformed_auth",
    )
    .await;
    let stale = t - 301;
    let res = post_sub(
        &app,
        &body,
        Some(signed(
            &bob,
            &push::subscribe_string("bob", e, stale),
            stale,
        )),
    )
    .await;
    assert_error(res, 401, "stale_auth").await;
    let res = post_sub(
        &app,
        &body,
        Some(signed(&mallory, &push::subscribe_string("bob", e, t), t)),
    )
    .await;
    assert_error(res, 401, "bad_signature").await;
    let replays = [
        (
            "inbox poll",
            kez_chat_server::kez::auth::poll_string("bob", 0, t),
        ),
        (
            "inbox stream",
            kez_chat_server::kez::auth::stream_string("bob", t),
        ),
        ("DELETE", push::unsubscribe_string("bob", e, t)),
        ("GET check", push::check_string("bob", e, t)),
        (
            "another endpoint",
            push::subscribe_string("bob", "http://127.0.0.1:9/other", t),
        ),
        ("another handle", push::subscribe_string("mallory", e, t)),
    ];
    for (what, string) in &replays {
        let res = post_sub(&app, &body, Some(signed(&bob, string, t))).await;
        assert_eq!(res.status(), 401, "POST accepted a {what} signature");
    }
    let unknown = json!({"handle": "nobody", "endpoint": e, "keys": browser_keys()});
    let res = post_sub(
        &app,
        &unknown,
        Some(signed(&bob, &push::subscribe_string("nobody", e, t), t)),
    )
    .await;
    assert_error(res, 404, "not_found").await;

    // GET check: the same rules with its own string
    let res = check_sub(
        &app,
        "bob",
        e,
        signed(&bob, &push::subscribe_string("bob", e, t), t),
    )
    .await;
    assert_error(res, 401, "bad_signature").await;
    let res = check_sub(
        &app,
        "bob",
        e,
        signed(&mallory, &push::check_string("bob", e, t), t),
    )
    .await;
    assert_error(res, 401, "bad_signature").await;
    assert!(is_subscribed(&app, &bob, "bob", e).await);
    assert!(!is_subscribed(&app, &bob, "bob", "http://127.0.0.1:9/never").await);
    let res = app.get("/v1/push/subscriptions/bob").await;
    assert_error(res, 400, "invalid_query").await;

    // DELETE: refused with foreign strings, then done and idempotent
    for string in [
        push::subscribe_string("bob", e, t),
        push::check_string("bob", e, t),
    ] {
        let res = delete_sub(&app, "bob", e, signed(&bob, &string, t)).await;
        assert_error(res, 401, "bad_signature").await;
    }
    let res = delete_sub(
        &app,
        "bob",
        e,
        signed(&mallory, &push::unsubscribe_string("bob", e, t), t),
    )
    .await;
    assert_error(res, 401, "bad_signature").await;
    assert!(is_subscribed(&app, &bob, "bob", e).await);
    for _ in 0..2 {
        let res = delete_sub(
            &app,
            "bob",
            e,
            signed(&bob, &push::unsubscribe_string("bob", e, t), t),
        )
        .await;
        assert_eq!(res.status(), 204);
    }
    assert!(!is_subscribed(&app, &bob, "bob", e).await);
}

#[tokio::test]
async fn subscriptions_are_validated() {
    // Without the test switch: https and public hosts only.
    let app = spawn_app().await;
    let bob = TestIdentity::generate();
    app.register(&bob, "bob").await;
    for endpoint in [
        "http://push.example.com/x",
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/x",
        "not a url",
    ] {
        let res = subscribe(&app, &bob, "bob", endpoint).await;
        assert_error(res, 422, "invalid_endpoint").await;
    }
    assert_eq!(
        subscribe(&app, &bob, "bob", "https://fcm.googleapis.com/fcm/send/x")
            .await
            .status(),
        201
    );

    // With it, still checked: keys, shape, size, content type.
    let app = insecure_app().await;
    app.register(&bob, "bob").await;
    let e = "http://127.0.0.1:9/push";
    let auth = || {
        Some(signed(
            &bob,
            &push::subscribe_string("bob", e, now()),
            now(),
        ))
    };
    let good = browser_keys();
    let point = URL_SAFE_NO_PAD
        .decode(good["p256dh"].as_str().unwrap())
        .unwrap();
    let bad_keys = [
        json!({"p256dh": URL_SAFE_NO_PAD.encode(&point[..64]), "auth": good["auth"]}),
        json!({"p256dh": URL_SAFE_NO_PAD.encode(&point[1..]), "auth": good["auth"]}),
        json!({"p256dh": URL_SAFE_NO_PAD.encode([4u8; 65]), "auth": good["auth"]}),
        json!({"p256dh": good["p256dh"], "auth": URL_SAFE_NO_PAD.encode([1u8; 15])}),
        json!({"p256dh": good["p256dh"], "auth": URL_SAFE_NO_PAD.encode([1u8; 17])}),
        json!({"p256dh": good["p256dh"], "auth": "!!not base64!!"}),
    ];
    for keys in bad_keys {
        let res = post_sub(
            &app,
            &json!({"handle": "bob", "endpoint": e, "keys": keys}),
            auth(),
        )
        .await;
        assert_error(res, 422, "invalid_keys").await;
    }
    let res = post_sub(&app, &json!({"handle": "bob", "endpoint": e}), auth()).await;
    assert_error(res, 422, "invalid_body").await;
    let res = post_sub(
        &app,
        &json!({"handle": "bob", "endpoint": e, "keys": good, "extra": 1}),
        auth(),
    )
    .await;
    assert_error(res, 422, "invalid_body").await;
    // PushSubscription.toJSON() carries expirationTime: accepted.
    let res = post_sub(
        &app,
        &json!({"handle": "bob", "endpoint": e, "keys": good, "expirationTime": null}),
        auth(),
    )
    .await;
    assert_eq!(res.status(), 201);
    let huge =
        json!({"handle": "bob", "endpoint": format!("{e}/{}", "a".repeat(9000)), "keys": good});
    assert_error(
        post_sub(&app, &huge, auth()).await,
        413,
        "payload_too_large",
    )
    .await;
    let long =
        json!({"handle": "bob", "endpoint": format!("{e}/{}", "a".repeat(2100)), "keys": good});
    assert_error(post_sub(&app, &long, auth()).await, 422, "invalid_endpoint").await;
    let res = app
        .post_raw("/v1/push/subscriptions", "text/plain", b"{}".to_vec())
        .await;
    assert_error(res, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn an_eleventh_subscription_replaces_the_least_recently_registered() {
    let app = insecure_app().await;
    let bob = TestIdentity::generate();
    app.register(&bob, "bob").await;
    let endpoint = |i: usize| format!("http://127.0.0.1:9/s/{i:02}");
    for i in 0..push::MAX_SUBSCRIPTIONS_PER_HANDLE {
        assert_eq!(
            subscribe(&app, &bob, "bob", &endpoint(i)).await.status(),
            201
        );
    }
    // Re-registering #0 makes #1 the least recently registered.
    assert_eq!(
        subscribe(&app, &bob, "bob", &endpoint(0)).await.status(),
        200
    );

    let res = subscribe(&app, &bob, "bob", &endpoint(10)).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"subscribed": true, "evicted": 1}));

    assert!(!is_subscribed(&app, &bob, "bob", &endpoint(1)).await);
    for i in (0..=10).filter(|i| *i != 1) {
        assert!(is_subscribed(&app, &bob, "bob", &endpoint(i)).await, "#{i}");
    }
}

#[tokio::test]
async fn a_message_pushes_once_and_empty_to_each_of_the_recipients_endpoints() {
    // Arrange
    let app = insecure_app().await;
    let ps = PushService::start(&vapid_key(&app).await).await;
    let (alice, bob) = (TestIdentity::generate(), TestIdentity::generate());
    app.register(&alice, "alice").await;
    app.register(&bob, "bob").await;
    for (id, h, path) in [
        (&bob, "bob", "/bob/phone"),
        (&bob, "bob", "/bob/laptop"),
        (&alice, "alice", "/alice/phone"),
    ] {
        assert_eq!(
            subscribe(&app, id, h, &ps.endpoint(path)).await.status(),
            201
        );
    }

    // Act
    assert_eq!(app.send("bob", "hi").await.status(), 201);

    // Assert
    wait_for(10, "both of bob's pushes", async || ps.total() >= 2).await;
    tokio::time::sleep(settle()).await;
    ps.assert_no_problems();
    for path in ["/bob/phone", "/bob/laptop"] {
        let got = ps.received(path);
        assert_eq!(got.len(), 1, "{path}: {got:?}");
        assert_eq!(got[0].body_len, 0);
        assert_eq!(got[0].content_length.as_deref(), Some("0"));
        assert_eq!(got[0].status, 201);
    }
    assert!(ps.received("/alice/phone").is_empty());
    let s = stats(&app);
    assert_eq!((s.queued, s.delivered, s.failed, s.dropped), (1, 2, 0, 0));
}

#[tokio::test]
async fn gone_subscriptions_are_deleted_and_the_check_says_so() {
    let app = insecure_app().await;
    let ps = PushService::start(&vapid_key(&app).await).await;
    let bob = TestIdentity::generate();
    app.register(&bob, "bob").await;
    ps.set_mode("/gone", Mode::Status(410));
    ps.set_mode("/missing", Mode::Status(404));
    for path in ["/gone", "/missing", "/fine"] {
        assert_eq!(
            subscribe(&app, &bob, "bob", &ps.endpoint(path))
                .await
                .status(),
            201
        );
    }

    app.send("bob", "hello").await;

    wait_for(10, "three pushes", async || ps.total() >= 3).await;
    wait_for(5, "the gone subscriptions to be removed", async || {
        stats(&app).removed == 2
    })
    .await;
    ps.assert_no_problems();
    assert!(!is_subscribed(&app, &bob, "bob", &ps.endpoint("/gone")).await);
    assert!(!is_subscribed(&app, &bob, "bob", &ps.endpoint("/missing")).await);
    assert!(is_subscribed(&app, &bob, "bob", &ps.endpoint("/fine")).await);
    // Nothing retries a gone endpoint.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(ps.received("/gone").len(), 1);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let app = insecure_app().await;
    let ps = PushService::start(&vapid_key(&app).await).await;
    let bob = TestIdentity::generate();
    app.register(&bob, "bob").await;
    ps.set_mode("/busy", Mode::FailThenCreated(429, 1));
    ps.set_mode("/flaky", Mode::FailThenCreated(503, 2));
    ps.set_mode("/broken", Mode::Status(500));
    for path in ["/busy", "/flaky", "/broken"] {
        subscribe(&app, &bob, "bob", &ps.endpoint(path)).await;
    }

    app.send("bob", "hello").await;

    wait_for(15, "retries to succeed", async || {
        ps.received("/busy").last().is_some_and(|r| r.status == 201)
            && ps
                .received("/flaky")
                .last()
                .is_some_and(|r| r.status == 201)
    })
    .await;
    ps.assert_no_problems();
    let statuses = |p: &str| ps.received(p).iter().map(|r| r.status).collect::<Vec<_>>();
    assert_eq!(statuses("/busy"), [429, 201]);
    assert_eq!(statuses("/flaky"), [503, 503, 201]);
    // A persistent 500 is tried a bounded number of times and kept.
    wait_for(20, "the broken endpoint to be given up", async || {
        stats(&app).failed == 1
    })
    .await;
    assert_eq!(ps.received("/broken").len(), push::MAX_ATTEMPTS as usize);
    assert!(is_subscribed(&app, &bob, "bob", &ps.endpoint("/broken")).await);
    let s = stats(&app);
    assert_eq!((s.delivered, s.removed), (2, 0));
    assert_eq!(s.retried, 1 + 2 + u64::from(push::MAX_ATTEMPTS - 1));
}

#[tokio::test]
async fn a_hanging_push_service_does_not_delay_posting() {
    let (app, ps, _bob) = bob_subscribed("/slow", Mode::Hang).await;

    assert_eq!(app.send("bob", "one").await.status(), 201);
    wait_for(10, "the push to reach the stand-in", async || {
        ps.hanging() == 1
    })
    .await;

    // While that push hangs (it is never answered), posts still complete:
    // they do not wait for push delivery at all.
    for i in 0..5 {
        assert_eq!(app.send("bob", &format!("more {i}")).await.status(), 201);
    }
    // The first push attempt is still pending: not delivered, not failed,
    // not even timed out and retried, so no post above waited for it.
    assert_eq!(ps.hanging(), 1, "the first push is still pending");
    let s = stats(&app);
    assert_eq!((s.delivered, s.failed, s.retried), (0, 0, 0));
    ps.assert_no_problems();
}

#[tokio::test]
async fn a_burst_of_messages_sends_one_push() {
    let (app, ps, _bob) = bob_subscribed("/bob", Mode::Created).await;

    for i in 0..5 {
        assert_eq!(app.send("bob", &format!("burst {i}")).await.status(), 201);
    }

    wait_for(10, "the push", async || ps.total() >= 1).await;
    tokio::time::sleep(settle()).await;
    ps.assert_no_problems();
    assert_eq!(ps.received("/bob").len(), 1);
    let s = stats(&app);
    assert_eq!((s.queued, s.coalesced, s.delivered), (5, 4, 1));

    // After the window, the next message is pushed again.
    app.send("bob", "later").await;
    wait_for(10, "the second push", async || ps.total() >= 2).await;
}

#[tokio::test]
async fn a_replayed_message_does_not_push_again() {
    let (app, ps, _bob) = bob_subscribed("/bob", Mode::Created).await;
    let body = message_body("bob", &random_id(), "once");

    assert_eq!(app.post_json("/v1/messages", &body).await.status(), 201);
    wait_for(10, "the push", async || ps.total() >= 1).await;
    assert_eq!(app.post_json("/v1/messages", &body).await.status(), 200);
    tokio::time::sleep(settle()).await;
    assert_eq!(ps.total(), 1);
}

#[test]
fn push_signed_string_vectors_hold() {
    use ed25519_dalek::{Signer, SigningKey};
    let path = format!(
        "{}/tests/vectors/push-signed-strings.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let data: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vectors = data["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 3);
    let mut seen = std::collections::HashSet::new();
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let (handle, endpoint) = (
            v["handle"].as_str().unwrap(),
            v["endpoint"].as_str().unwrap(),
        );
        let ts = v["ts"].as_i64().unwrap();
        assert_eq!(
            push::endpoint_hash(endpoint),
            v["endpoint_sha256"],
            "{name}"
        );
        let string = v["string"].as_str().unwrap();
        let rebuilt = [
            push::subscribe_string(handle, endpoint, ts),
            push::unsubscribe_string(handle, endpoint, ts),
            push::check_string(handle, endpoint, ts),
        ];
        assert!(rebuilt.iter().any(|s| s == string), "{name}");
        seen.insert(string.split('\n').next().unwrap().to_owned());
        let mut seed = [0u8; 32];
        hex::decode_to_slice(v["seed_hex"].as_str().unwrap(), &mut seed).unwrap();
        let sk = SigningKey::from_bytes(&seed);
        let sig = hex::encode(sk.sign(string.as_bytes()).to_bytes());
        assert_eq!(sig, v["signature"].as_str().unwrap(), "{name}");
        assert_eq!(v["header"], format!("{ts}:{sig}"), "{name}");
    }
    assert_eq!(seen.len(), 3, "every method has a vector");

    let vapid = &data["vapid"];
    let key = push::VapidKey::from_private_b64(vapid["private_b64url"].as_str().unwrap()).unwrap();
    assert_eq!(key.public_b64(), vapid["public_b64url"]);
    let url = url::Url::parse(vapid["endpoint"].as_str().unwrap()).unwrap();
    assert_eq!(push::audience(&url), vapid["aud"]);
    let jwt = key.jwt(
        vapid["aud"].as_str().unwrap(),
        vapid["exp"].as_i64().unwrap(),
        vapid["sub"].as_str().unwrap(),
    );
    assert_eq!(jwt, vapid["jwt"]);
    assert_eq!(
        format!("vapid t={jwt}, k={}", key.public_b64()),
        vapid["authorization"]
    );
}

#[tokio::test]
async fn without_the_test_switch_a_stored_local_endpoint_is_never_contacted() {
    // Arrange: a loopback endpoint stored while the switch was on…
    let (mut app, ps, bob) = bob_subscribed("/bob", Mode::Created).await;
    // …then the server runs as in production.
    app.config.allow_insecure_push_endpoints = false;
    app.restart().await;

    app.send("bob", "hello").await;

    wait_for(10, "the push to be refused", async || {
        stats(&app).removed == 1
    })
    .await;
    assert_eq!(ps.total(), 0);
    assert_eq!(stats(&app).retried, 0, "a refused endpoint is not retried");
    // Dropped, so the client's self-heal check sees it gone.
    assert!(!is_subscribed(&app, &bob, "bob", &ps.endpoint("/bob")).await);
}

#[tokio::test]
async fn subscription_changes_are_rate_limited_per_ip() {
    let app = spawn_app_with(|c| {
        c.allow_insecure_push_endpoints = true;
        c.push_rate_per_minute = 2;
    })
    .await;
    let bob = TestIdentity::generate();
    app.register(&bob, "bob").await;
    for i in 0..2 {
        let res = subscribe(&app, &bob, "bob", &format!("http://127.0.0.1:9/push/{i}")).await;
        assert_eq!(res.status(), 201);
    }
    let res = subscribe(&app, &bob, "bob", "http://127.0.0.1:9/push/2").await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, 429, "rate_limited").await;
}

#[tokio::test]
async fn a_push_still_coalescing_at_shutdown_is_sent_before_the_server_stops() {
    // Arrange
    let (mut app, ps, _bob) = bob_subscribed("/bob", Mode::Created).await;
    assert_eq!(app.send("bob", "just before a restart").await.status(), 201);
    let server = app.server.take().unwrap();
    let push = server.state.push.clone();
    assert_eq!(push.stats().delivered, 0, "still inside its window");

    // Act
    server.shutdown().await;

    // Assert: the push went out before `shutdown` returned.
    ps.assert_no_problems();
    let got = ps.received("/bob");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].status, got[0].body_len), (201, 0));
    assert_eq!(push.stats().delivered, 1);
}

#[tokio::test]
async fn a_hanging_push_service_cannot_hold_up_shutdown() {
    let (mut app, ps, _bob) = bob_subscribed("/slow", Mode::Hang).await;
    assert_eq!(app.send("bob", "one").await.status(), 201);
    let server = app.server.take().unwrap();

    let stopped = tokio::time::timeout(Duration::from_secs(30), server.shutdown()).await;

    assert!(stopped.is_ok(), "shutdown hung on a push");
    assert_eq!(ps.hanging(), 1, "tried once, never retried at shutdown");
}

#[tokio::test]
async fn a_message_posted_with_notify_false_is_stored_and_streamed_but_not_pushed() {
    // Arrange
    let (app, ps, bob) = bob_subscribed("/bob", Mode::Created).await;
    let mut receipt = message_body("bob", &random_id(), "a delivery receipt");
    receipt["notify"] = json!(false);

    // Act
    assert_eq!(app.post_json("/v1/messages", &receipt).await.status(), 201);
    let mut not_bool = message_body("bob", &random_id(), "x");
    not_bool["notify"] = json!("no");
    let refused = app.post_json("/v1/messages", &not_bool).await;
    // A text after it does push, so the quiet one is known to have been
    // processed by the time this push arrives.
    assert_eq!(app.send("bob", "a text").await.status(), 201);

    // Assert
    assert_eq!(refused.status(), 422);
    wait_for(10, "the text's push", async || ps.total() >= 1).await;
    tokio::time::sleep(settle()).await;
    assert_eq!(ps.received("/bob").len(), 1);
    let s = stats(&app);
    assert_eq!((s.queued, s.delivered), (1, 1), "only the text was queued");
    let inbox = app.poll(&bob, "bob", 0).await;
    assert_eq!(
        inbox["messages"].as_array().unwrap().len(),
        2,
        "both stored"
    );
}

#[tokio::test]
async fn pushes_waiting_to_retry_do_not_hold_the_delivery_slots() {
    // Arrange: more throttled subscriptions than there are delivery slots,
    // all told to come back in 30 s.
    let app = insecure_app().await;
    let ps = PushService::start(&vapid_key(&app).await).await;
    let per_handle = push::MAX_SUBSCRIPTIONS_PER_HANDLE;
    let handles = push::MAX_CONCURRENT_PUSHES.div_ceil(per_handle) + 1;
    for h in 0..handles {
        let id = TestIdentity::generate();
        let name = format!("throttled{h}");
        app.register(&id, &name).await;
        for i in 0..per_handle {
            let path = format!("/{name}/{i}");
            ps.set_mode(&path, Mode::Throttled);
            assert_eq!(
                subscribe(&app, &id, &name, &ps.endpoint(&path))
                    .await
                    .status(),
                201
            );
        }
        app.send(&name, "x").await;
    }
    let throttled = handles * per_handle;
    assert!(throttled > push::MAX_CONCURRENT_PUSHES);
    wait_for(15, "every throttled push to be tried once", async || {
        ps.total() >= throttled
    })
    .await;

    // Act: a message for someone whose push service is fine.
    let bob = TestIdentity::generate();
    app.register(&bob, "bob").await;
    subscribe(&app, &bob, "bob", &ps.endpoint("/bob")).await;
    app.send("bob", "hello").await;

    // Assert: delivered while every throttled one is still waiting out its
    // 30 s (none has been retried yet).
    wait_for(10, "bob's push", async || !ps.received("/bob").is_empty()).await;
    assert_eq!(ps.received("/bob")[0].status, 201);
    assert_eq!(
        ps.total(),
        throttled + 1,
        "no throttled push was retried yet"
    );
    ps.assert_no_problems();
}

#[tokio::test]
async fn only_the_browsers_push_services_are_accepted_unless_configured() {
    // Arrange: production settings.
    let app = spawn_app().await;
    let bob = TestIdentity::generate();
    app.register(&bob, "bob").await;

    // Act
    let fcm = subscribe(
        &app,
        &bob,
        "bob",
        "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",
    )
    .await;
    let mozilla = subscribe(
        &app,
        &bob,
        "bob",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAAB",
    )
    .await;
    let elsewhere = subscribe(&app, &bob, "bob", "https://push.example.com/x").await;

    // Assert
    assert_eq!(fcm.status(), 201);
    assert_eq!(mozilla.status(), 201);
    let body = assert_error(elsewhere, 422, "invalid_endpoint").await;
    assert!(
        body["message"].as_str().unwrap().contains("push service"),
        "{body}"
    );
    // An operator can widen the list.
    let open = spawn_app_with(|c| c.push_hosts = "*".into()).await;
    open.register(&bob, "bob").await;
    let res = subscribe(&open, &bob, "bob", "https://push.example.com/x").await;
    assert_eq!(res.status(), 201);
}
