//! A signed request names its server (SPEC §7.2, §10.2): a credential made
//! for one server is refused by another where the same key holds the same
//! handle, on every signed route.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kez_chat_server::kez::auth;
use kez_chat_server::push;
use serde_json::json;

use crate::helpers::*;

/// The second server's name.
const OTHER: &str = "other.test";
/// A push endpoint both servers accept (insecure mode).
const E: &str = "http://127.0.0.1:9/push/bob";

/// The signed routes, in an order where each one can succeed (the
/// subscription exists before it is checked and withdrawn).
#[derive(Debug, Clone, Copy)]
enum Route {
    Poll,
    Stream,
    Subscribe,
    Check,
    Unsubscribe,
}

const ROUTES: [Route; 5] = [
    Route::Poll,
    Route::Stream,
    Route::Subscribe,
    Route::Check,
    Route::Unsubscribe,
];

/// Servers `SERVER` and `OTHER`, each with the same key registered as bob.
async fn twin_servers() -> (TestApp, TestApp, TestIdentity) {
    let a = spawn_app_with(|c| c.allow_insecure_push_endpoints = true).await;
    let b = spawn_app_with(|c| {
        c.allow_insecure_push_endpoints = true;
        c.server = OTHER.to_owned();
    })
    .await;
    let bob = a.user("bob").await;
    let res = b
        .post_json("/v1/register", &bob.registration("bob", OTHER))
        .await;
    assert_eq!(res.status(), 201);
    (a, b, bob)
}

/// `route`'s signed string for bob on `server` at `ts`.
fn signed_string(route: Route, server: &str, ts: i64) -> String {
    match route {
        Route::Poll => auth::poll_string(server, "bob", 0, ts),
        Route::Stream => auth::stream_string(server, "bob", ts),
        Route::Subscribe => auth::subscribe_string(server, "bob", E, ts),
        Route::Check => auth::check_string(server, "bob", E, ts),
        Route::Unsubscribe => auth::unsubscribe_string(server, "bob", E, ts),
    }
}

/// Sends `route` to `app` as bob, with a credential signed for `signed_for`.
async fn send(
    app: &TestApp,
    bob: &TestIdentity,
    route: Route,
    signed_for: &str,
) -> reqwest::Response {
    let ts = now();
    let cred = bob.auth(&signed_string(route, signed_for, ts), ts);
    let client = &app.client;
    let req = match route {
        Route::Poll => client.get(app.url("/v1/inbox/bob?since=0")),
        Route::Stream => client.get(app.url(&format!("/v1/inbox/bob/stream?auth={cred}"))),
        Route::Subscribe => {
            let keys = json!({"p256dh": push::VapidKey::generate().public_b64(),
                              "auth": URL_SAFE_NO_PAD.encode([7u8; 16])});
            let body = json!({"handle": "bob", "endpoint": E, "keys": keys});
            client.post(app.url("/v1/push/subscriptions")).json(&body)
        }
        Route::Check => {
            let mut url = url::Url::parse(&app.url("/v1/push/subscriptions/bob")).unwrap();
            url.query_pairs_mut().append_pair("endpoint", E);
            client.get(url)
        }
        Route::Unsubscribe => client
            .delete(app.url("/v1/push/subscriptions"))
            .json(&json!({"handle": "bob", "endpoint": E})),
    };
    req.header("x-kez-auth", cred).send().await.unwrap()
}

#[tokio::test]
async fn a_credential_for_one_server_is_refused_by_another() {
    // Arrange
    let (a, b, bob) = twin_servers().await;

    for route in ROUTES {
        for (app, own, foreign) in [(&a, SERVER, OTHER), (&b, OTHER, SERVER)] {
            // Act + Assert: signed for the other server, then for this one.
            let replayed = send(app, &bob, route, foreign).await;
            let body = assert_error(replayed, 401, "bad_signature").await;
            assert!(body["message"].is_string(), "{route:?} on {own}");
            let res = send(app, &bob, route, own).await;
            assert!(
                res.status().is_success(),
                "{route:?} on {own}: {}",
                res.status()
            );
        }
    }
}
