//! Web Push (SPEC §10): subscriptions signed by the handle's key
//! (`subscriptions`), and delivery to the stand-in push service in
//! `helpers::push_service` (`delivery`).

mod delivery;
mod subscriptions;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kez_chat_server::config::Config;
use kez_chat_server::kez::auth;
use kez_chat_server::push;
use serde_json::{Value, json};

use crate::helpers::push_service::{Mode, PushService};
use crate::helpers::*;

/// An app that also accepts http:// and loopback push endpoints.
async fn insecure_app() -> TestApp {
    insecure_app_with(|_| {}).await
}

/// `insecure_app` after `tweak` adjusts the config.
pub(crate) async fn insecure_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(|c| {
        c.allow_insecure_push_endpoints = true;
        tweak(c);
    })
    .await
}

async fn vapid_key(app: &TestApp) -> String {
    let res = app.get("/v1/push/vapid-public-key").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["key"].as_str().unwrap().to_owned()
}

/// A stand-in push service that expects `app`'s VAPID key.
pub(crate) async fn push_service_for(app: &TestApp) -> PushService {
    PushService::start(&vapid_key(app).await).await
}

/// A browser-like `keys` object: a real P-256 point and a 16-byte secret.
fn browser_keys() -> Value {
    let mut auth = [0u8; 16];
    getrandom::fill(&mut auth).unwrap();
    json!({"p256dh": push::VapidKey::generate().public_b64(), "auth": URL_SAFE_NO_PAD.encode(auth)})
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

/// Subscribes `endpoint` for `handle`, signed by `id`.
pub(crate) async fn subscribe(
    app: &TestApp,
    id: &TestIdentity,
    handle: &str,
    endpoint: &str,
) -> reqwest::Response {
    let auth = id.auth(
        &auth::subscribe_string(SERVER, handle, endpoint, now()),
        now(),
    );
    post_sub(
        app,
        &json!({"handle": handle, "endpoint": endpoint, "keys": browser_keys()}),
        Some(auth),
    )
    .await
}

/// `subscribe`, asserting that it created a new subscription.
pub(crate) async fn subscribe_new(app: &TestApp, id: &TestIdentity, handle: &str, endpoint: &str) {
    let res = subscribe(app, id, handle, endpoint).await;
    assert_eq!(res.status(), 201, "subscribing {endpoint}");
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
    let auth = id.auth(&auth::check_string(SERVER, handle, endpoint, now()), now());
    let res = check_sub(app, handle, endpoint, auth).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["subscribed"].as_bool().unwrap()
}

fn stats(app: &TestApp) -> push::PushStats {
    app.state().push.stats()
}

/// Waits until the push pipeline is idle: every queued notification was
/// folded into a window or opened one that has been flushed, and no
/// delivery is still sending or waiting to retry. After that nothing more
/// is pushed until the next message, so tests can assert what did not
/// happen.
pub(crate) async fn wait_push_idle(app: &TestApp) {
    wait_for(20, "the push pipeline to go idle", async || {
        let s = stats(app);
        s.queued == s.flushed + s.coalesced + s.dropped && s.in_flight == 0
    })
    .await;
}

/// An insecure-mode app, a stand-in push service answering `path` with
/// `mode`, and bob registered and subscribed there.
async fn bob_subscribed(path: &str, mode: Mode) -> (TestApp, PushService, TestIdentity) {
    bob_subscribed_window(TEST_PUSH_COALESCE_MS, path, mode).await
}

/// `bob_subscribed` with a coalescing window of `window_ms`.
async fn bob_subscribed_window(
    window_ms: u64,
    path: &str,
    mode: Mode,
) -> (TestApp, PushService, TestIdentity) {
    let app = insecure_app_with(|c| c.push_coalesce_ms = window_ms).await;
    let ps = push_service_for(&app).await;
    let bob = app.user("bob").await;
    ps.set_mode(path, mode);
    subscribe_new(&app, &bob, "bob", &ps.endpoint(path)).await;
    (app, ps, bob)
}
