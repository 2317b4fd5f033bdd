//! Delivery (SPEC §10.2): one empty, VAPID-signed push per coalescing
//! window to each of the recipient's endpoints, retries, cleanup of gone
//! subscriptions, and pushes still waiting at shutdown. Windows and retry
//! waits are short here (`test_config`); a test that needs a window to span
//! its steps sets its own.

use kez_chat_server::push;
use serde_json::json;

use super::*;

/// A window far longer than the handful of local posts a test makes inside
/// it, yet short enough to wait out.
const BURST_WINDOW_MS: u64 = 1000;
/// A window or retry wait no test outlasts: what is inside it at the end of
/// a test is certainly still waiting.
const AN_HOUR_MS: u64 = 3_600_000;

#[tokio::test]
async fn a_message_pushes_once_and_empty_to_each_of_the_recipients_endpoints() {
    // Arrange
    let app = insecure_app().await;
    let ps = push_service_for(&app).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    subscribe_new(&app, &bob, "bob", &ps.endpoint("/bob/phone")).await;
    subscribe_new(&app, &bob, "bob", &ps.endpoint("/bob/laptop")).await;
    subscribe_new(&app, &alice, "alice", &ps.endpoint("/alice/phone")).await;

    // Act
    assert_eq!(app.send("bob", "hi").await.status(), 201);

    // Assert
    wait_push_idle(&app).await;
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
    let (app, ps, bob) = bob_subscribed("/gone", Mode::Status(410)).await;
    ps.set_mode("/missing", Mode::Status(404));
    for path in ["/missing", "/fine"] {
        subscribe_new(&app, &bob, "bob", &ps.endpoint(path)).await;
    }

    app.send("bob", "hello").await;

    wait_push_idle(&app).await;
    assert_eq!(ps.total(), 3);
    assert_eq!(stats(&app).removed, 2);
    ps.assert_no_problems();
    assert!(!is_subscribed(&app, &bob, "bob", &ps.endpoint("/gone")).await);
    assert!(!is_subscribed(&app, &bob, "bob", &ps.endpoint("/missing")).await);
    assert!(is_subscribed(&app, &bob, "bob", &ps.endpoint("/fine")).await);
    // Nothing retries a gone endpoint.
    assert_eq!(ps.received("/gone").len(), 1);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let (app, ps, bob) = bob_subscribed("/busy", Mode::FailThenCreated(429, 1)).await;
    ps.set_mode("/flaky", Mode::FailThenCreated(503, 2));
    ps.set_mode("/broken", Mode::Status(500));
    for path in ["/flaky", "/broken"] {
        subscribe_new(&app, &bob, "bob", &ps.endpoint(path)).await;
    }

    app.send("bob", "hello").await;

    wait_push_idle(&app).await;
    ps.assert_no_problems();
    let statuses = |p: &str| ps.received(p).iter().map(|r| r.status).collect::<Vec<_>>();
    assert_eq!(statuses("/busy"), [429, 201]);
    assert_eq!(statuses("/flaky"), [503, 503, 201]);
    // A persistent 500 is tried a bounded number of times and kept.
    assert_eq!(stats(&app).failed, 1);
    assert_eq!(ps.received("/broken").len(), push::MAX_ATTEMPTS as usize);
    assert!(is_subscribed(&app, &bob, "bob", &ps.endpoint("/broken")).await);
    let s = stats(&app);
    assert_eq!((s.delivered, s.removed), (2, 0));
    assert_eq!(s.retried, 1 + 2 + u64::from(push::MAX_ATTEMPTS - 1));
}

#[tokio::test]
async fn a_hanging_push_service_does_not_delay_posting() {
    // The five posts below open a second window that must still be open
    // when the first push is checked.
    let (app, ps, _bob) = bob_subscribed_window(BURST_WINDOW_MS, "/slow", Mode::Hang).await;

    assert_eq!(app.send("bob", "one").await.status(), 201);
    wait_for(10, "the push to reach the stand-in", async || {
        ps.hanging() == 1
    })
    .await;

    // While that push hangs (it is never answered), posts still complete:
    // they do not wait for push delivery at all.
    app.send_concurrently("bob", 5, "more").await;
    // The first push attempt is still pending: not delivered, not failed,
    // not even timed out and retried, so no post above waited for it.
    assert_eq!(ps.hanging(), 1, "the first push is still pending");
    let s = stats(&app);
    assert_eq!((s.delivered, s.failed, s.retried), (0, 0, 0));
    ps.assert_no_problems();
}

#[tokio::test]
async fn a_burst_of_messages_sends_one_push() {
    let (app, ps, _bob) = bob_subscribed_window(BURST_WINDOW_MS, "/bob", Mode::Created).await;

    app.send_concurrently("bob", 5, "burst").await;

    wait_push_idle(&app).await;
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
    wait_push_idle(&app).await;
    assert_eq!(ps.total(), 1);
    assert_eq!(stats(&app).queued, 1, "the replay queued no push");
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
async fn a_push_still_coalescing_at_shutdown_is_sent_before_the_server_stops() {
    // Arrange: a window that outlasts the test.
    let (mut app, ps, _bob) = bob_subscribed_window(AN_HOUR_MS, "/bob", Mode::Created).await;
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
    // A window that outlasts the test: the push is the one shutdown sends.
    let (mut app, ps, _bob) = bob_subscribed_window(AN_HOUR_MS, "/slow", Mode::Hang).await;
    assert_eq!(app.send("bob", "one").await.status(), 201);
    let server = app.server.take().unwrap();

    let stopped = tokio::time::timeout(std::time::Duration::from_secs(30), server.shutdown()).await;

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
    // Silent by the query (SPEC §7.1, §7.5), whatever the body says.
    let by_query = message_body("bob", &random_id(), "a receipt, silent by the query");
    let res = app.post_json("/v1/messages?notify=false", &by_query).await;
    assert_eq!(res.status(), 201);
    let mut not_bool = message_body("bob", &random_id(), "x");
    not_bool["notify"] = json!("no");
    let refused = app.post_json("/v1/messages", &not_bool).await;
    assert_eq!(app.send("bob", "a text").await.status(), 201);

    // Assert
    assert_eq!(refused.status(), 422);
    wait_push_idle(&app).await;
    assert_eq!(ps.received("/bob").len(), 1);
    let s = stats(&app);
    assert_eq!((s.queued, s.delivered), (1, 1), "only the text was queued");
    assert_eq!(app.inbox_len(&bob, "bob").await, 3, "all stored");
}

#[tokio::test]
async fn pushes_waiting_to_retry_do_not_hold_the_delivery_slots() {
    // Arrange: more throttled subscriptions than there are delivery slots,
    // all told to come back in an hour, which the server honours.
    let app = insecure_app_with(|c| c.push_max_retry_wait_secs = AN_HOUR_MS / 1000).await;
    let ps = push_service_for(&app).await;
    let per_handle = push::MAX_SUBSCRIPTIONS_PER_HANDLE;
    let handles = push::MAX_CONCURRENT_PUSHES.div_ceil(per_handle) + 1;
    for h in 0..handles {
        let name = format!("throttled{h}");
        let id = app.user(&name).await;
        for i in 0..per_handle {
            let path = format!("/{name}/{i}");
            ps.set_mode(&path, Mode::Throttled);
            subscribe_new(&app, &id, &name, &ps.endpoint(&path)).await;
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
    let bob = app.user("bob").await;
    subscribe_new(&app, &bob, "bob", &ps.endpoint("/bob")).await;
    app.send("bob", "hello").await;

    // Assert: delivered while every throttled one is still waiting out its
    // hour (none has been retried yet).
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
async fn an_ephemeral_post_never_pushes() {
    let (app, ps, _bob) = bob_subscribed("/bob", Mode::Created).await;
    let mut body = message_body("bob", &random_id(), "typing");
    body["ephemeral"] = true.into();
    let res = app.post_json("/v1/messages?ephemeral=true", &body).await;
    assert_eq!(res.status(), 202);
    // A stored message afterwards pushes, and is the only one queued.
    assert_eq!(app.send("bob", "text").await.status(), 201);
    wait_for(10, "the push", async || ps.total() >= 1).await;
    wait_push_idle(&app).await;
    assert_eq!(ps.total(), 1);
    assert_eq!(stats(&app).queued, 1, "the ephemeral post queued no push");
}
