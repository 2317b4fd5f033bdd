//! The HTTP edge: how each route's answers may be cached, SSE through
//! buffering proxies, refusals before the body is read on a keep-alive
//! connection, and errors raised before routing.

use kez_chat_server::kez::auth::check_string;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Every answer, errors included, of every route carries the chosen
/// `Cache-Control` (README "Endpoints"): `no-store` on per-user and
/// authenticated routes and on every error, `no-cache` on public lookups.
#[tokio::test]
async fn every_route_says_how_it_may_be_cached() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let mut private = vec![
        app.get("/v1/healthz").await,
        app.post_json("/v1/register", &json!({})).await,
        app.post_json(
            "/v1/register",
            &TestIdentity::generate().registration("bob", SERVER),
        )
        .await,
        app.send("alice", "hi").await,
        app.post_raw("/v1/messages", "text/plain", b"{}".to_vec())
            .await,
        app.get("/v1/inbox/alice").await,
        app.request(Method::POST, "/v1/inbox/alice").await,
        app.get("/v1/inbox/alice/stream").await,
        app.post_json("/v1/push/subscriptions", &json!({})).await,
        app.request(Method::DELETE, "/v1/push/subscriptions").await,
        app.get("/v1/push/subscriptions/alice?endpoint=x").await,
        app.request(Method::POST, "/internal/nats/auth").await,
        app.request(Method::DELETE, "/v1/inbox/alice").await,
        app.get("/v1/no-such-route").await,
        app.get("/v1/new-per-user-route/alice").await,
    ];
    private.push(signed_get(&app, "/v1/inbox/alice?since=0", alice.poll_auth("alice", 0)).await);
    let stream = format!("/v1/inbox/alice/stream?auth={}", alice.stream_auth("alice"));
    private.push(app.get(&stream).await);
    let endpoint = "https://push.example/x";
    let check = alice.auth(&check_string(SERVER, "alice", endpoint, now()), now());
    let path = format!("/v1/push/subscriptions/alice?endpoint={endpoint}");
    private.push(signed_get(&app, &path, check).await);
    for res in &private {
        assert_cache(res, "no-store");
    }
    assert!(private.iter().any(|r| r.status() == 200) && private.iter().any(|r| r.status() == 201));

    let primary = alice.primary();
    let public_ok = [
        app.get("/v1/u/alice").await,
        app.get(&format!("/v1/by-primary/{primary}")).await,
        app.get(&format!(
            "/.well-known/webfinger?resource=acct:alice@{SERVER}"
        ))
        .await,
        app.get("/v1/push/vapid-public-key").await,
        app.get("/v1/server").await,
        app.get("/").await,
    ];
    for res in &public_ok {
        assert_eq!(res.status(), 200, "{}", res.url());
        assert_cache(res, "no-cache");
    }
    let public_errors = [
        app.get("/v1/u/nobody").await,
        app.get("/v1/by-primary/ed25519:zz").await,
        app.get("/.well-known/webfinger").await,
        app.request(Method::POST, "/v1/u/alice").await,
        app.get("/no-such-file.js").await,
    ];
    for res in &public_errors {
        assert!(res.status().is_client_error(), "{}", res.url());
        assert_cache(res, "no-store");
    }
}

async fn signed_get(app: &TestApp, path: &str, auth: String) -> reqwest::Response {
    let res = app
        .client
        .get(app.url(path))
        .header("x-kez-auth", auth)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res
}

/// The cache policy is opt-out: an API path is `no-store` unless it is one
/// of the listed public routes, so a per-user route added later (and not
/// listed) can never be stored by a shared cache.
#[test]
fn api_paths_are_private_unless_listed_public() {
    use kez_chat_server::edge::{CachePolicy, cache_policy};
    let private = [
        "/v1/inbox/alice",
        "/v1/healthz",
        "/v1/no-such-route",
        "/v1/new-per-user-route/alice",
        "/v1/u/alice/extra",
        "/v1/u/",
        "/v1/server/x",
        "/.well-known/other",
        "/internal/anything",
        "/v1",
    ];
    for path in private {
        assert_eq!(cache_policy(path), CachePolicy::Private, "{path}");
    }
    let public = [
        "/v1/u/alice",
        "/v1/by-primary/ed25519:00",
        "/.well-known/webfinger",
        "/v1/push/vapid-public-key",
        "/v1/server",
        "/",
        "/assets/app.js",
        "/chats/alice",
    ];
    for path in public {
        assert_eq!(cache_policy(path), CachePolicy::Public, "{path}");
    }
}

fn assert_cache(res: &reqwest::Response, want: &str) {
    let got = res
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap());
    assert_eq!(got, Some(want), "{} {}", res.status(), res.url().path());
}

/// A buffering proxy (nginx) holds a stream's headers until its first
/// bytes: the stream says `X-Accel-Buffering: no` and sends a comment at
/// once, before any event or keep-alive (here an hour away), even when the
/// mailbox is empty.
#[tokio::test]
async fn the_stream_sends_its_first_bytes_at_once() {
    let app = spawn_app_with(|c| c.sse_keepalive_secs = 3600).await;
    let alice = app.user("alice").await;
    let path = format!("/v1/inbox/alice/stream?auth={}", alice.stream_auth("alice"));
    let mut res = app.get(&path).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-accel-buffering"), "no");
    let first = within(10, "the stream's first bytes", res.chunk()).await;
    let first = first.unwrap().expect("the stream is open");
    assert_eq!(&first[..], b": open\n\n");
}

/// One HTTP/1.1 answer read off a raw connection.
struct Raw {
    /// Interim answers (`100 Continue`) seen before it.
    interim: Vec<u16>,
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn error_code(&self) -> String {
        let body: serde_json::Value = serde_json::from_slice(&self.body).expect("a JSON body");
        body["error"].as_str().unwrap_or_default().to_owned()
    }
}

/// Reads the next final answer (skipping and recording 1xx ones).
async fn read_answer(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Raw {
    let mut interim = Vec::new();
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed before an answer");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf.drain(..end).collect()).unwrap();
        let status: u16 = head[9..12].parse().unwrap();
        if status < 200 {
            interim.push(status);
            continue;
        }
        let mut raw = Raw {
            interim,
            status,
            head,
            body: Vec::new(),
        };
        let len: usize = raw
            .header("content-length")
            .map_or(0, |v| v.parse().unwrap());
        while buf.len() < len {
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed mid-body");
            buf.extend_from_slice(&chunk[..n]);
        }
        raw.body = buf.drain(..len).collect();
        return raw;
    }
}

/// Sends `request` and reads its answer within a bound.
async fn exchange(conn: &mut TcpStream, buf: &mut Vec<u8>, request: &[u8]) -> Raw {
    conn.write_all(request).await.unwrap();
    within(10, "an answer", read_answer(conn, buf)).await
}

fn post(path: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// After an answer that says `Connection: close`, the server closes.
async fn assert_closed(conn: &mut TcpStream, raw: &Raw) {
    assert_eq!(raw.header("connection"), Some("close"), "{}", raw.head);
    let mut rest = Vec::new();
    let n = within(10, "the close", conn.read_to_end(&mut rest)).await;
    assert_eq!(n.unwrap_or(0), 0);
}

/// A 429 or 415 (or 404, 405) is answered before the body is read; the
/// answer says `Connection: close` so a keep-alive client does not send
/// its next request into a connection the server is closing. A request
/// whose body was read keeps its connection.
#[tokio::test]
async fn refusals_before_the_body_close_the_connection_openly() {
    let app = spawn_app().await;
    app.user("alice").await;
    let message = message_body("alice", &random_id(), "hi").to_string();
    let refusals = [
        (
            post("/v1/messages", "text/plain", &message),
            415,
            "unsupported_media_type",
        ),
        (
            post("/v1/register", "text/plain", "{}"),
            415,
            "unsupported_media_type",
        ),
        (
            post("/v1/push/subscriptions", "text/plain", "{}"),
            415,
            "unsupported_media_type",
        ),
        (
            post("/v1/no-such-route", "application/json", "{}"),
            404,
            "not_found",
        ),
        (
            post("/v1/u/alice", "application/json", "{}"),
            405,
            "method_not_allowed",
        ),
    ];
    for (request, status, code) in refusals {
        refused_then_closed(&app, &request, None, (status, code)).await;
    }
    let limited = spawn_app_with(|c| c.message_rate_per_minute = 1).await;
    limited.user("alice").await;
    let request = post("/v1/messages", "application/json", &message);
    // The one token: read, stored, and the connection stays usable.
    refused_then_closed(&limited, &request, Some(&request), (429, "rate_limited")).await;
}

/// Sends `first` (which must succeed and keep the connection), then
/// `request`, which must be refused with `want` and close the connection.
async fn refused_then_closed(
    app: &TestApp,
    request: &[u8],
    first: Option<&[u8]>,
    want: (u16, &str),
) {
    let mut conn = TcpStream::connect(app.addr()).await.unwrap();
    let mut buf = Vec::new();
    if let Some(first) = first {
        let ok = exchange(&mut conn, &mut buf, first).await;
        assert_eq!(ok.status, 201, "{}", ok.head);
        assert_eq!(ok.header("connection"), None);
    }
    let raw = exchange(&mut conn, &mut buf, request).await;
    assert_eq!(
        (raw.status, raw.error_code().as_str()),
        want,
        "{}",
        raw.head
    );
    assert_closed(&mut conn, &raw).await;
}

/// A body declared over the route's limit is refused with 413 at once:
/// no waiting for the body, no `100 Continue`, and the connection closes.
#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_at_once() {
    let app = spawn_app().await;
    let routes = [
        (
            "/v1/register",
            kez_chat_server::registry::MAX_REGISTRATION_BYTES,
        ),
        ("/v1/messages", kez_chat_server::messages::MAX_BODY_BYTES),
        // push::subscriptions::MAX_BODY_BYTES (not public).
        ("/v1/push/subscriptions", 8 * 1024),
    ];
    for (path, limit) in routes {
        for expect in ["", "expect: 100-continue\r\n"] {
            let mut conn = TcpStream::connect(app.addr()).await.unwrap();
            let head = format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                 {expect}content-length: {}\r\n\r\n",
                limit + 1
            );
            // Only the head: the body never comes.
            let raw = exchange(&mut conn, &mut Vec::new(), head.as_bytes()).await;
            assert_eq!(
                (raw.status, raw.error_code().as_str()),
                (413, "payload_too_large"),
                "{path}"
            );
            assert!(raw.interim.is_empty(), "{path}: {:?}", raw.interim);
            assert_closed(&mut conn, &raw).await;
        }
    }
}

/// Requests over the edge's limits get JSON errors like every other, with
/// the route's headers (here WebFinger's CORS and `no-store`).
#[tokio::test]
async fn oversized_targets_and_headers_get_json_errors() {
    use kez_chat_server::edge::{MAX_HEADER_BYTES, MAX_HEADERS, MAX_URI_BYTES};
    let app = spawn_app().await;
    let long = format!(
        "/.well-known/webfinger?resource={}",
        "a".repeat(MAX_URI_BYTES)
    );
    let res = app.get(&long).await;
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    assert_cache(&res, "no-store");
    assert_error(res, 414, "uri_too_long").await;

    let mut many = app.client.get(app.url("/v1/healthz"));
    for i in 0..MAX_HEADERS {
        many = many.header(format!("x-filler-{i}"), "1");
    }
    let res = many.send().await.unwrap();
    assert_error(res, 431, "headers_too_large").await;

    let big = "b".repeat(MAX_HEADER_BYTES);
    let res = app
        .client
        .get(app.url("/v1/healthz"))
        .header("x-big", big)
        .send()
        .await
        .unwrap();
    assert_cache(&res, "no-store");
    assert_error(res, 431, "headers_too_large").await;

    // Within the limits, all is as usual.
    let res = app
        .get(&format!(
            "/v1/healthz?pad={}",
            "p".repeat(MAX_URI_BYTES / 2)
        ))
        .await;
    assert_eq!(res.status(), 200);
}
