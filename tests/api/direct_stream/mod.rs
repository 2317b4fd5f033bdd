//! The direct stream path (issue 14, TODO #205): a stream opened as a
//! fresh connection's first request is served off hyper's buffers, with
//! the same bytes on the wire as hyper's path; anything unusual still goes
//! to hyper. Raw TCP clients, so what is checked is what a client reads.

mod caps;
mod http10;
mod timeouts;

use std::sync::atomic::Ordering;

use crate::helpers::*;

/// A stream open request for `handle` signed by `id`.
fn open_request(id: &TestIdentity, handle: &str, extra: &str) -> Vec<u8> {
    let auth = id.stream_auth(handle);
    format!("GET /v1/inbox/{handle}/stream?auth={auth} HTTP/1.1\r\nhost: x\r\n{extra}\r\n")
        .into_bytes()
}

fn direct_opens(app: &TestApp) -> u64 {
    app.state()
        .counters
        .streams_opened_direct
        .load(Ordering::Relaxed)
}

/// Streams opened (direct, all) so far.
fn opens(app: &TestApp) -> (u64, u64) {
    let opened = &app.state().counters.streams_opened;
    (direct_opens(app), opened.load(Ordering::Relaxed))
}

#[tokio::test]
async fn a_fresh_connection_gets_its_stream_off_hyper_with_the_full_head() {
    // Arrange
    let app = spawn_app_with(|c| {
        c.sse_keepalive_secs = 1;
        c.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let bob = app.user("bob").await;
    app.send("bob", "one").await;

    // Act
    let mut raw = Raw::connect(&app).await;
    raw.send(&open_request(&bob, "bob", "")).await;

    // Assert: the head as hyper writes it…
    let (status, headers) = raw.head().await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    for (name, want) in [
        ("content-type", "text/event-stream"),
        ("cache-control", "no-store"),
        ("x-accel-buffering", "no"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("transfer-encoding", "chunked"),
    ] {
        assert_eq!(value(&headers, name), want);
    }
    assert!(value(&headers, "content-security-policy").contains("default-src"));
    assert!(!value(&headers, "x-request-id").is_empty());
    assert!(value(&headers, "date").ends_with(" GMT"));
    // …then `: open`, the replay, a live event and keep-alives.
    let replayed = raw.chunks_until("id: 1\n").await;
    assert!(replayed.starts_with(": open\n\n"), "{replayed}");
    app.send("bob", "two").await;
    let live = raw.chunks_until("id: 2\n").await;
    assert!(live.contains("event: message\n"), "{live}");
    raw.chunks_until(": keep-alive\n\n").await;
    // The direct path served it, and /metrics says so.
    assert_eq!(direct_opens(&app), 1);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("kez_streams_opened_direct_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kez_streams_opened_total 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_stream_after_another_request_rides_hyper_with_the_same_bytes() {
    // Arrange: three stored messages.
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    for text in ["a", "b", "c"] {
        app.send("bob", text).await;
    }

    // Act: one stream as a fresh connection's first request (direct), one
    // on a connection that answered a request first (hyper).
    let mut direct = Raw::connect(&app).await;
    direct.send(&open_request(&bob, "bob", "")).await;
    let (direct_status, direct_headers) = direct.head().await;
    let direct_events = direct.chunks_until("id: 3\n").await;
    let mut kept = Raw::connect(&app).await;
    kept.send(HEALTHZ).await;
    let (_, healthz) = kept.head().await;
    kept.body(&healthz).await;
    kept.send(&open_request(&bob, "bob", "")).await;
    let (hyper_status, hyper_headers) = kept.head().await;
    let hyper_events = kept.chunks_until("id: 3\n").await;

    // Assert: the same status, headers in the same order (values too, but
    // for the date and the request id), and the same event bytes.
    assert_eq!(direct_status, hyper_status);
    let fixed = |h: &[(String, String)]| -> Vec<(String, String)> {
        h.iter()
            .map(|(n, v)| match n.as_str() {
                "date" | "x-request-id" => (n.clone(), String::new()),
                _ => (n.clone(), v.clone()),
            })
            .collect()
    };
    assert_eq!(fixed(&direct_headers), fixed(&hyper_headers));
    assert_eq!(direct_events, hyper_events);
    assert_eq!(opens(&app), (1, 2));
}

#[tokio::test]
async fn a_client_that_leaves_releases_its_direct_stream() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let mut raw = Raw::connect(&app).await;
    raw.send(&open_request(&bob, "bob", "")).await;
    raw.head().await;
    raw.chunks_until(": open\n\n").await;
    let state = app.state().clone();
    assert_eq!(state.streams.total_open(), 1);

    drop(raw);

    wait_for(10, "the stream to be released", async || {
        state.streams.total_open() == 0 && state.streams.live_tasks() == 0
    })
    .await;
}

#[tokio::test]
async fn a_client_that_sends_more_on_its_stream_connection_is_hung_up_on() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let mut raw = Raw::connect(&app).await;
    raw.send(&open_request(&bob, "bob", "")).await;
    raw.head().await;
    raw.chunks_until(": open\n\n").await;

    // A pipelined second request is never answered: the connection ends.
    raw.send(HEALTHZ).await;

    assert!(raw.rest().await.is_empty());
    let state = app.state().clone();
    wait_for(10, "the stream to be released", async || {
        state.streams.live_tasks() == 0
    })
    .await;
}

#[tokio::test]
async fn unusual_stream_requests_and_other_paths_go_to_hyper_as_before() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let auth = bob.stream_auth("bob");
    let pad = format!("x-pad: {}\r\n", "a".repeat(9 * 1024));
    let cases: [(Vec<u8>, &str); 4] = [
        // A head over the direct path's 8 KiB bound.
        (open_request(&bob, "bob", &pad), "200"),
        // HTTP/1.0 asking to be kept alive.
        (
            format!(
                "GET /v1/inbox/bob/stream?auth={auth} HTTP/1.0\r\nconnection: keep-alive\r\n\r\n"
            )
            .into_bytes(),
            "200",
        ),
        // A body (unread, so hyper closes after the answer).
        (
            open_request(&bob, "bob", "content-length: 5\r\n")
                .into_iter()
                .chain(*b"hello")
                .collect(),
            "200",
        ),
        // The poll, without its auth header.
        (
            b"GET /v1/inbox/bob HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
            "401",
        ),
    ];
    for (request, want) in cases {
        let mut raw = Raw::connect(&app).await;
        raw.send(&request).await;
        let (status, headers) = raw.head().await;
        assert_eq!(status.split(' ').nth(1), Some(want), "{status}");
        if want == "401" {
            assert!(raw.body(&headers).await.contains("missing_auth"));
        }
    }
    assert_eq!(opens(&app), (0, 3));
}

#[tokio::test]
async fn a_refused_direct_stream_gets_hypers_json_error_and_the_connection_goes_on() {
    let app = spawn_app().await;
    let _bob = app.user("bob").await;
    let bad = b"GET /v1/inbox/bob/stream?auth=bad HTTP/1.1\r\nhost: x\r\n\r\n";
    // The same refusal through hyper, on a kept-alive connection.
    let mut kept = Raw::connect(&app).await;
    kept.send(HEALTHZ).await;
    let (_, healthz) = kept.head().await;
    kept.body(&healthz).await;
    kept.send(bad).await;
    let (hyper_status, hyper_headers) = kept.head().await;
    let hyper_body = kept.body(&hyper_headers).await;

    let mut raw = Raw::connect(&app).await;
    raw.send(bad).await;
    let (status, headers) = raw.head().await;
    let body = raw.body(&headers).await;

    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    assert_eq!((&status, &body), (&hyper_status, &hyper_body));
    let names = |h: &[(String, String)]| h.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&headers), names(&hyper_headers));
    assert!(body.contains("malformed_auth"), "{body}");
    // The connection serves the next request (through hyper).
    raw.send(HEALTHZ).await;
    assert_eq!(raw.head().await.0, "HTTP/1.1 200 OK");
}
