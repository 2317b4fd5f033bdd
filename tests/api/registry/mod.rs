//! Registration, lookup and reverse lookup.

mod refusals;
mod reverse;

use serde_json::{Value, json};

use crate::helpers::*;

/// Posts a registration envelope and asserts it is refused with `status`
/// and the error `code`.
async fn assert_refused(app: &TestApp, envelope: &Value, status: u16, code: &str) {
    assert_error(app.post_json("/v1/register", envelope).await, status, code).await;
}

/// `assert_refused` for a body given as JSON text, sent as is.
async fn assert_text_refused(app: &TestApp, text: String, status: u16, code: &str) {
    let res = app
        .post_raw("/v1/register", "application/json", text.into_bytes())
        .await;
    assert_error(res, status, code).await;
}

#[tokio::test]
async fn healthz_reports_server_and_version() {
    let app = spawn_app().await;
    let res = app.get("/v1/healthz").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "ok", "server": SERVER, "version": env!("CARGO_PKG_VERSION")})
    );
}

#[tokio::test]
async fn registration_returns_the_lookup_record() {
    // Arrange
    let app = spawn_app().await;
    let alice = TestIdentity::generate();
    // Act
    let created = app.register(&alice, "alice").await;
    let looked_up: Value = app.get("/v1/u/alice").await.json().await.unwrap();
    // Assert
    assert_eq!(created, looked_up);
    assert_eq!(created["handle"], "alice");
    assert_eq!(created["fqhn"], format!("alice@{SERVER}"));
    assert_eq!(created["primary"], alice.primary());
    let hex = alice.primary().trim_start_matches("ed25519:").to_owned();
    assert_eq!(
        created["sigchain_url"],
        format!("https://{SERVER}/v1/sigchains/ed25519/{hex}")
    );
    let at = created["registered_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(at).is_ok() && at.ends_with('Z'),
        "{at}"
    );
    assert_eq!(created.as_object().unwrap().len(), 5);
}

#[tokio::test]
async fn lookup_of_an_unknown_handle_is_404_json() {
    let app = spawn_app().await;
    assert_error(app.get("/v1/u/nobody").await, 404, "not_found").await;
    assert_error(app.get("/v1/u/NOT%20VALID").await, 404, "not_found").await;
}

#[tokio::test]
async fn duplicate_handle_is_409() {
    let app = spawn_app().await;
    app.register(&TestIdentity::generate(), "alice").await;
    assert_refused(
        &app,
        &TestIdentity::generate().registration("alice", SERVER),
        409,
        "handle_taken",
    )
    .await;
}

#[tokio::test]
async fn duplicate_primary_is_409() {
    let app = spawn_app().await;
    let alice = TestIdentity::generate();
    app.register(&alice, "alice").await;
    assert_refused(
        &app,
        &alice.registration("alice2", SERVER),
        409,
        "primary_taken",
    )
    .await;
}

#[tokio::test]
async fn twenty_concurrent_registrations_of_one_handle_have_exactly_one_winner() {
    let app = spawn_app().await;
    let bodies: Vec<Value> = (0..20)
        .map(|_| TestIdentity::generate().registration("contested", SERVER))
        .collect();
    let futures = bodies.iter().map(|b| app.post_json("/v1/register", b));
    let statuses: Vec<u16> = futures_util::future::join_all(futures)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn registration_is_rate_limited_per_ip() {
    let app = spawn_app_with(|c| c.register_rate_per_minute = 2).await;
    for i in 0..2 {
        app.register(&TestIdentity::generate(), &format!("user{i}"))
            .await;
    }
    let res = app
        .post_json(
            "/v1/register",
            &TestIdentity::generate().registration("user9", SERVER),
        )
        .await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, 429, "rate_limited").await;
}
