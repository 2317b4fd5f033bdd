//! The edges of a request that every route shares (TODO #212 NICEs):
//! repeated query parameters, error sentences in our own words, the one
//! JSON media type, `HEAD` without side effects, `storage_full` for every
//! write that adds stored data.

use std::sync::atomic::Ordering;

use kez_chat_server::kez::auth;
use serde_json::{Value, json};

use crate::helpers::*;

/// Asserts a 400 `invalid_query` whose sentence names `param`.
async fn assert_names(res: reqwest::Response, param: &str) {
    let body = assert_error(res, 400, "invalid_query").await;
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(&format!("`{param}`")), "{message}");
    assert_plain(message);
}

/// No library wording, Rust type name or serde phrasing in a message.
fn assert_plain(message: &str) {
    for leak in [
        "Failed to",
        "deserialize",
        "serde",
        "expected",
        "u64",
        "Seq",
        "at line",
    ] {
        assert!(!message.contains(leak), "{leak:?} in {message:?}");
    }
}

#[tokio::test]
async fn a_query_parameter_given_twice_is_refused_on_every_route() {
    // Arrange
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let poll = |q: &str| {
        app.client
            .get(app.url(&format!("/v1/inbox/bob?{q}")))
            .header("x-kez-auth", bob.poll_auth("bob", 0))
            .send()
    };
    let mut ephemeral = message_body("bob", &random_id(), "typing");
    ephemeral["ephemeral"] = json!(true);

    // Act + Assert: the post's bucket query, where the first value used to win
    let res = app
        .post_json("/v1/messages?ephemeral=true&ephemeral=false", &ephemeral)
        .await;
    assert_names(res, "ephemeral").await;
    let res = app
        .post_json(
            "/v1/messages?notify=false&notify=false",
            &message_body("bob", &random_id(), "x"),
        )
        .await;
    assert_names(res, "notify").await;
    // The same rule for reads, releases, checks and unknown parameters.
    assert_names(poll("since=0&since=0").await.unwrap(), "since").await;
    assert_names(poll("since=0&x=1&x=2").await.unwrap(), "x").await;
    assert_names(poll("since=0&s%69nce=0").await.unwrap(), "since").await;
    let res = app
        .request(reqwest::Method::DELETE, "/v1/inbox/bob?through=1&through=1")
        .await;
    assert_names(res, "through").await;
    let res = app
        .get(&format!(
            "/v1/inbox/bob/stream?auth={0}&auth={0}",
            bob.stream_auth("bob")
        ))
        .await;
    assert_names(res, "auth").await;
    let res = app
        .get("/v1/push/subscriptions/bob?endpoint=a&endpoint=b")
        .await;
    assert_names(res, "endpoint").await;
    let wf = "/.well-known/webfinger?resource=acct:bob@test.invalid";
    assert_names(
        app.get(&format!("{wf}&resource=acct:x@y")).await,
        "resource",
    )
    .await;
    // `rel` alone may repeat (RFC 7033 §4.3); one of each still works.
    let rels = format!("{wf}&rel=self&rel=self");
    let res = app.get(&rels.replace("test.invalid", SERVER)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(poll("since=0").await.unwrap().status(), 200);
}

#[tokio::test]
async fn error_messages_say_what_and_where_in_our_own_words() {
    // Arrange
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let t = now();
    let release = |query: &str, through: u64| {
        app.client
            .delete(app.url(&format!("/v1/inbox/bob{query}")))
            .header(
                "x-kez-auth",
                bob.auth(&auth::release_string(SERVER, "bob", through, t), t),
            )
            .send()
    };
    let post = |body: &str| app.post_raw("/v1/messages", "application/json", body.into());
    let id = random_id();
    let message = |e: Value| e["message"].as_str().unwrap().to_owned();

    // Act + Assert: queries
    let res = app.get("/v1/inbox/bob?since=abc").await;
    let e = assert_error(res, 400, "invalid_query").await;
    assert_eq!(
        message(e),
        "the query parameter `since` has a value of the wrong type"
    );
    let e = assert_error(release("", 0).await.unwrap(), 400, "invalid_query").await;
    assert_eq!(message(e), "the query parameter `through` is required");
    let res = app
        .post_json("/v1/messages?ephemeral=yes", &json!({}))
        .await;
    assert_names(res, "ephemeral").await;

    // JSON syntax: where it broke, by line and column.
    let e = assert_error(post("{\n \"to\": }").await, 400, "invalid_json").await;
    assert_eq!(message(e), "the body is not valid JSON at line 2, column 8");
    let e = assert_error(post("{\"to\": \"bob\"").await, 400, "invalid_json").await;
    assert!(message(e).starts_with("the body ends before its JSON is complete (line 1"));
    let e = assert_error(post(r#"{"a":1,"a":2}"#).await, 400, "invalid_json").await;
    assert!(message(e).starts_with(r#"the key "a" appears twice in one object (line 1, column "#));

    // Shape: the field, by name.
    let cases = [
        (
            json!({"to": "bob", "id": id}),
            "the field `envelope` is missing",
        ),
        (
            json!({"to": 5, "id": id, "envelope": {}}),
            "the field `to` has the wrong JSON type",
        ),
        (
            json!({"to": "bob", "id": id, "envelope": {}, "x": 1}),
            "the field `x` is not allowed here",
        ),
        (
            json!({"to": "bob", "id": id, "envelope": {}, "notify": "no"}),
            "the field `notify` has the wrong JSON type",
        ),
    ];
    for (body, sentence) in cases {
        let e = assert_error(
            app.post_json("/v1/messages", &body).await,
            422,
            "invalid_body",
        )
        .await;
        assert_eq!(message(e), sentence, "{body}");
    }
    let alice = TestIdentity::generate();
    let mut reg = alice.registration("alice", SERVER);
    reg["payload"].as_object_mut().unwrap().remove("handle");
    let e = assert_error(
        app.post_json("/v1/register", &reg).await,
        422,
        "invalid_body",
    )
    .await;
    assert!(message(e).ends_with("the field `payload.handle` is missing"));
    let sub = json!({"handle": "bob", "endpoint": "https://push.example/x"});
    let res = app.post_json("/v1/push/subscriptions", &sub).await;
    let e = assert_error(res, 422, "invalid_body").await;
    assert_eq!(message(e), "the field `keys` is missing");
    let e = assert_error(app.get("/v1/u/%FF").await, 400, "invalid_path").await;
    assert_plain(&message(e));
    assert_eq!(release("?through=0", 0).await.unwrap().status(), 200);
}

#[tokio::test]
async fn only_application_json_is_taken_as_a_json_body() {
    // Arrange
    let app = spawn_app().await;
    app.user("bob").await;
    let body = || serde_json::to_vec(&message_body("bob", &random_id(), "x")).unwrap();

    // Act + Assert
    for refused in [
        "application/foo+json",
        "application/merge-patch+json",
        "text/json",
        "application/jsonx",
        "text/plain",
    ] {
        let res = app.post_raw("/v1/messages", refused, body()).await;
        assert_error(res, 415, "unsupported_media_type").await;
    }
    let res = app
        .client
        .post(app.url("/v1/messages"))
        .body(body())
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "unsupported_media_type").await;
    for taken in ["application/json", "Application/JSON; charset=utf-8"] {
        let res = app.post_raw("/v1/messages", taken, body()).await;
        assert_eq!(res.status(), 201, "{taken}");
    }
}

#[tokio::test]
async fn a_head_on_the_stream_route_checks_but_opens_no_stream() {
    // Arrange
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let opened = || app.state().counters.streams_opened.load(Ordering::Relaxed);
    let head = |path: String| app.client.head(app.url(&path)).send();
    let stream = |auth: String| format!("/v1/inbox/bob/stream?auth={auth}");

    // Act
    let res = head(stream(bob.stream_auth("bob"))).await.unwrap();
    let refused = head(stream(bob.stream_auth_at("bob", now() - 3600)))
        .await
        .unwrap();
    let missing = head("/v1/inbox/bob/stream".to_owned()).await.unwrap();
    let proofs = head(format!(
        "/v1/sigchains/ed25519/{}/proofs",
        &bob.primary()["ed25519:".len()..]
    ))
    .await
    .unwrap();

    // Assert: GET's status and head, nothing opened, registered or counted.
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "text/event-stream");
    assert_eq!(header(&res, "x-accel-buffering"), "no");
    assert!(res.bytes().await.unwrap().is_empty());
    assert_eq!(refused.status(), 401);
    assert_eq!(missing.status(), 400);
    assert_eq!(opened(), 0);
    assert_eq!(app.state().streams.total_open(), 0);
    assert_eq!(app.state().streams.live_tasks(), 0);
    // The proof checks take a token and may fetch: not for a HEAD.
    assert_eq!(proofs.status(), 405);
    assert_eq!(header(&proofs, "allow"), "GET");
    // A GET still opens and counts.
    let _events = app.open_stream(&bob, "bob", None).await;
    assert_eq!(opened(), 1);
}

#[tokio::test]
async fn every_request_that_adds_stored_data_gets_storage_full_on_a_low_disk() {
    if skip_on_postgres("--min-free-disk-mb watches SQLite's disk only (SPEC §11.2)") {
        return;
    }
    // Arrange
    let mut app = crate::push::insecure_app_with(|_| {}).await;
    let bob = app.user("bob").await;
    assert_eq!(app.send("bob", "before").await.status(), 201);
    app.config.min_free_disk_mb = u64::MAX >> 20;
    app.restart().await;
    let hex = &bob.primary()["ed25519:".len()..];
    let t = now();

    // Act
    let register = app
        .post_json(
            "/v1/register",
            &TestIdentity::generate().registration("carol", SERVER),
        )
        .await;
    let profile = app
        .put_profile(&crate::profile::document(&bob, "bob", t))
        .await;
    let add = crate::sigchain::add_dns("example.com");
    let link = app
        .post_link(hex, &crate::sigchain::link(&bob, 1, None, add))
        .await;
    let push = crate::push::subscribe(&app, &bob, "bob", "http://127.0.0.1:9/push/bob").await;

    // Assert: refused like a post; reads and releases go on.
    for res in [register, profile, link, push] {
        assert_error(res, 507, "storage_full").await;
    }
    assert_eq!(app.get("/v1/u/bob").await.status(), 200);
    assert_eq!(app.inbox_len(&bob, "bob").await, 1);
    let release = app
        .client
        .delete(app.url("/v1/inbox/bob?through=1"))
        .header(
            "x-kez-auth",
            bob.auth(&auth::release_string(SERVER, "bob", 1, t), t),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(release.status(), 200);
    assert_eq!(app.inbox_len(&bob, "bob").await, 0);
}
