//! Subscribing, the self-heal check and unsubscribing: each signed by the
//! handle's key over its own string, for that endpoint (SPEC §10.1).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kez_chat_server::kez::auth;
use kez_chat_server::push;
use p256::ecdsa::VerifyingKey;
use serde_json::{Value, json};

use super::*;

/// Where bob subscribes in the signing tests (never contacted).
const E: &str = "http://127.0.0.1:9/push/bob";

/// An insecure-mode app with bob and mallory registered.
async fn bob_and_mallory() -> (TestApp, TestIdentity, TestIdentity) {
    let app = insecure_app().await;
    let bob = app.user("bob").await;
    let mallory = app.user("mallory").await;
    (app, bob, mallory)
}

/// `bob_and_mallory`, with bob subscribed at `E`.
async fn bob_subscribed_at_e() -> (TestApp, TestIdentity, TestIdentity) {
    let (app, bob, mallory) = bob_and_mallory().await;
    subscribe_new(&app, &bob, "bob", E).await;
    (app, bob, mallory)
}

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
async fn subscribing_needs_the_handles_signature_over_that_endpoint() {
    // Arrange
    let (app, bob, mallory) = bob_and_mallory().await;
    let body = json!({"handle": "bob", "endpoint": E, "keys": browser_keys()});
    let t = now();
    let good = || Some(bob.auth(&auth::subscribe_string(SERVER, "bob", E, t), t));

    // Act + Assert: good, then refreshed
    let res = post_sub(&app, &body, good()).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created, json!({"subscribed": true, "evicted": 0}));
    assert_eq!(post_sub(&app, &body, good()).await.status(), 200);

    // Refusals
    let stale = t - 301;
    let refusals = [
        (None, "missing_auth"),
        (Some("nope".to_owned()), "malformed_auth"),
        (
            Some(bob.auth(&auth::subscribe_string(SERVER, "bob", E, stale), stale)),
            "stale_auth",
        ),
        (
            Some(mallory.auth(&auth::subscribe_string(SERVER, "bob", E, t), t)),
            "bad_signature",
        ),
    ];
    for (auth, code) in refusals {
        assert_error(post_sub(&app, &body, auth).await, 401, code).await;
    }
    let replays = [
        ("inbox poll", auth::poll_string(SERVER, "bob", 0, t)),
        ("inbox stream", auth::stream_string(SERVER, "bob", t)),
        ("DELETE", auth::unsubscribe_string(SERVER, "bob", E, t)),
        ("GET check", auth::check_string(SERVER, "bob", E, t)),
        (
            "another endpoint",
            auth::subscribe_string(SERVER, "bob", "http://127.0.0.1:9/other", t),
        ),
        (
            "another handle",
            auth::subscribe_string(SERVER, "mallory", E, t),
        ),
    ];
    for (what, string) in &replays {
        let res = post_sub(&app, &body, Some(bob.auth(string, t))).await;
        assert_eq!(res.status(), 401, "POST accepted a {what} signature");
    }
    let unknown = json!({"handle": "nobody", "endpoint": E, "keys": browser_keys()});
    let auth = bob.auth(&auth::subscribe_string(SERVER, "nobody", E, t), t);
    assert_error(post_sub(&app, &unknown, Some(auth)).await, 404, "not_found").await;
}

#[tokio::test]
async fn the_check_needs_the_handles_signature_over_its_own_string() {
    // Arrange
    let (app, bob, mallory) = bob_subscribed_at_e().await;
    let t = now();

    // Act + Assert
    for auth in [
        bob.auth(&auth::subscribe_string(SERVER, "bob", E, t), t),
        mallory.auth(&auth::check_string(SERVER, "bob", E, t), t),
    ] {
        assert_error(check_sub(&app, "bob", E, auth).await, 401, "bad_signature").await;
    }
    assert!(is_subscribed(&app, &bob, "bob", E).await);
    assert!(!is_subscribed(&app, &bob, "bob", "http://127.0.0.1:9/never").await);
    let res = app.get("/v1/push/subscriptions/bob").await;
    assert_error(res, 400, "invalid_query").await;
}

#[tokio::test]
async fn unsubscribing_needs_its_own_signature_and_is_idempotent() {
    // Arrange
    let (app, bob, mallory) = bob_subscribed_at_e().await;
    let t = now();

    // Act + Assert: refused with foreign strings or keys…
    for auth in [
        bob.auth(&auth::subscribe_string(SERVER, "bob", E, t), t),
        bob.auth(&auth::check_string(SERVER, "bob", E, t), t),
        mallory.auth(&auth::unsubscribe_string(SERVER, "bob", E, t), t),
    ] {
        assert_error(delete_sub(&app, "bob", E, auth).await, 401, "bad_signature").await;
    }
    assert!(is_subscribed(&app, &bob, "bob", E).await);
    // …then done, and done again.
    for _ in 0..2 {
        let auth = bob.auth(&auth::unsubscribe_string(SERVER, "bob", E, t), t);
        assert_eq!(delete_sub(&app, "bob", E, auth).await.status(), 204);
    }
    assert!(!is_subscribed(&app, &bob, "bob", E).await);
}

#[tokio::test]
async fn without_the_test_switch_only_https_public_endpoints_are_accepted() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
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
    subscribe_new(&app, &bob, "bob", "https://fcm.googleapis.com/fcm/send/x").await;
}

#[tokio::test]
async fn with_the_test_switch_keys_shape_size_and_content_type_are_still_checked() {
    let app = insecure_app().await;
    let bob = app.user("bob").await;
    let e = "http://127.0.0.1:9/push";
    let auth = || Some(bob.auth(&auth::subscribe_string(SERVER, "bob", e, now()), now()));
    let post = async |body: Value| post_sub(&app, &body, auth()).await;
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
        let res = post(json!({"handle": "bob", "endpoint": e, "keys": keys})).await;
        assert_error(res, 422, "invalid_keys").await;
    }
    let res = post(json!({"handle": "bob", "endpoint": e})).await;
    assert_error(res, 422, "invalid_body").await;
    let res = post(json!({"handle": "bob", "endpoint": e, "keys": good, "extra": 1})).await;
    assert_error(res, 422, "invalid_body").await;
    // PushSubscription.toJSON() carries expirationTime: accepted.
    let res =
        post(json!({"handle": "bob", "endpoint": e, "keys": good, "expirationTime": null})).await;
    assert_eq!(res.status(), 201);
    let huge = format!("{e}/{}", "a".repeat(9000));
    let res = post(json!({"handle": "bob", "endpoint": huge, "keys": good})).await;
    assert_error(res, 413, "payload_too_large").await;
    let long = format!("{e}/{}", "a".repeat(2100));
    let res = post(json!({"handle": "bob", "endpoint": long, "keys": good})).await;
    assert_error(res, 422, "invalid_endpoint").await;
    let res = app
        .post_raw("/v1/push/subscriptions", "text/plain", b"{}".to_vec())
        .await;
    assert_error(res, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn an_eleventh_subscription_replaces_the_least_recently_registered() {
    let app = insecure_app().await;
    let bob = app.user("bob").await;
    let endpoint = |i: usize| format!("http://127.0.0.1:9/s/{i:02}");
    for i in 0..push::MAX_SUBSCRIPTIONS_PER_HANDLE {
        subscribe_new(&app, &bob, "bob", &endpoint(i)).await;
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
async fn subscription_changes_are_rate_limited_per_ip() {
    let app = insecure_app_with(|c| c.push_rate_per_minute = 2).await;
    let bob = app.user("bob").await;
    for i in 0..2 {
        subscribe_new(&app, &bob, "bob", &format!("http://127.0.0.1:9/push/{i}")).await;
    }
    let res = subscribe(&app, &bob, "bob", "http://127.0.0.1:9/push/2").await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, 429, "rate_limited").await;
}

#[tokio::test]
async fn only_the_browsers_push_services_are_accepted_unless_configured() {
    // Arrange: production settings.
    let app = spawn_app().await;
    let bob = app.user("bob").await;

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
    subscribe_new(&open, &bob, "bob", "https://push.example.com/x").await;
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
        let server = v["server"].as_str().unwrap();
        assert_eq!(
            auth::endpoint_hash(endpoint),
            v["endpoint_sha256"],
            "{name}"
        );
        let string = v["string"].as_str().unwrap();
        let rebuilt = [
            auth::subscribe_string(server, handle, endpoint, ts),
            auth::unsubscribe_string(server, handle, endpoint, ts),
            auth::check_string(server, handle, endpoint, ts),
        ];
        assert!(rebuilt.iter().any(|s| s == string), "{name}");
        seen.insert(string.split('\n').nth(2).unwrap().to_owned());
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
