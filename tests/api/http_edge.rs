//! The HTTP edge: how each route's answers may be cached, SSE through
//! buffering proxies, refusals before the body is read on a keep-alive
//! connection, and errors raised before routing.

use kez_chat_server::kez::auth::check_string;
use reqwest::Method;
use serde_json::json;

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
    ];
    private.push(signed_get(&app, "/v1/inbox/alice?since=0", alice.poll_auth("alice", 0)).await);
    let stream = format!("/v1/inbox/alice/stream?auth={}", alice.stream_auth("alice"));
    private.push(app.get(&stream).await);
    let endpoint = "https://push.example/x";
    let check = alice.auth(&check_string("alice", endpoint, now()), now());
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
        app.get("/v1/no-such-route").await,
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
