//! The direct stream path (issue 14, TODO #205): a stream opened as a
//! fresh connection's first request is served off hyper's buffers, with
//! the same bytes on the wire as hyper's path; anything unusual still goes
//! to hyper. Raw TCP clients, so what is checked is what a client reads.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
async fn a_direct_stream_whose_client_stops_reading_is_dropped() {
    // Arrange: more stored than the socket buffers hold, a short write timeout.
    let app = spawn_app_with(|c| {
        c.write_timeout_secs = 1;
        c.mailbox_sender_share_percent = 100;
    })
    .await;
    let bob = app.user("bob").await;
    crate::inbox::post_big(&app, "bob", 100).await;
    let state = app.state().clone();

    // Act: a client that opens the stream and never reads.
    let stalled = app.stalled_stream(&bob, "bob", "").await;

    // Assert: the server closes the connection and releases the stream.
    let (server, client) = (app.addr(), stalled.local_addr().unwrap());
    wait_for(
        30,
        "the server to drop the stalled connection",
        async || !crate::inbox::established(server, client),
    )
    .await;
    wait_for(10, "the stream to be released", async || {
        state.streams.total_open() == 0 && state.streams.live_tasks() == 0
    })
    .await;
    assert_eq!(direct_opens(&app), 1);
}

#[tokio::test]
async fn shutdown_ends_a_direct_stream_with_the_last_chunk() {
    let mut app = spawn_app().await;
    let bob = app.user("bob").await;
    let mut raw = Raw::connect(&app).await;
    raw.send(&open_request(&bob, "bob", "")).await;
    raw.head().await;
    raw.chunks_until(": open\n\n").await;

    let server = app.server.take().unwrap();
    let stopping = tokio::spawn(server.shutdown());

    assert_eq!(raw.rest().await, b"0\r\n\r\n");
    within(15, "the shutdown", stopping).await.unwrap();
}

#[tokio::test]
async fn a_stream_head_dribbled_past_the_header_timeout_is_cut_off() {
    let app = spawn_app_with(|c| c.header_timeout_secs = 1).await;
    let bob = app.user("bob").await;
    let request = open_request(&bob, "bob", "");
    let conn = TcpStream::connect(app.addr()).await.unwrap();
    let (mut rx, mut tx) = conn.into_split();
    let dribble = tokio::spawn(async move {
        for b in request {
            if tx.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    let mut got = Vec::new();
    let read = within(10, "the server to hang up", rx.read_to_end(&mut got)).await;

    assert!(read.is_err() || got.is_empty(), "answered: {got:?}");
    dribble.abort();
    let mut raw = Raw::connect(&app).await;
    raw.send(HEALTHZ).await;
    assert_eq!(raw.head().await.0, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn a_slow_first_head_does_not_shorten_the_connections_later_waits() {
    // Arrange: a 4 s header timeout; a poll head (handed to hyper) sent in
    // pieces over ~2.5 s, whole before its time is up.
    let app = spawn_app_with(|c| c.header_timeout_secs = 4).await;
    let _bob = app.user("bob").await;
    let mut raw = Raw::connect(&app).await;
    for piece in [
        &b"GET /v1/inbox/bob"[..],
        b"?since=0 HTTP/1.1\r\n",
        b"host: x\r\n\r\n",
    ] {
        raw.send(piece).await;
        tokio::time::sleep(Duration::from_millis(1250)).await;
    }
    let (status, headers) = raw.head().await;
    raw.body(&headers).await;

    // Act: the next request comes after an idle wait longer than what was
    // left of the first head's time, shorter than the whole timeout.
    tokio::time::sleep(Duration::from_secs(2)).await;
    raw.send(HEALTHZ).await;

    // Assert: hyper waited with the whole timeout, not the first head's rest.
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    assert_eq!(raw.head().await.0, "HTTP/1.1 200 OK");
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

/// Registers `handle` on a client of its own that is gone on return, so
/// no pooled connection of the test's client holds a capped slot.
async fn user_without_a_kept_connection(app: &TestApp, handle: &str) -> TestIdentity {
    let api = Api::new(app.base.clone());
    api.user(handle).await
}

#[tokio::test]
async fn the_connection_cap_holds_for_direct_streams() {
    // Arrange: a direct stream holds the only slot.
    let app = spawn_app_with(|c| c.max_connections = 1).await;
    let bob = user_without_a_kept_connection(&app, "bob").await;
    let mut stream = Raw::connect(&app).await;
    stream.send(&open_request(&bob, "bob", "")).await;
    stream.head().await;

    // Act: another client asks for something.
    let mut second = Raw::connect(&app).await;
    second.send(HEALTHZ).await;

    // Assert: it waits until the stream closes.
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(200), second.s.read(&mut buf)).await;
    assert!(early.is_err(), "a connection over the cap was served");
    drop(stream);
    assert_eq!(second.head().await.0, "HTTP/1.1 200 OK");
    assert_eq!(direct_opens(&app), 1);
}

#[tokio::test]
async fn the_per_network_cap_holds_for_direct_streams() {
    let app = spawn_app_with(|c| c.max_connections_per_ip = 1).await;
    let bob = app.user("bob").await;
    let client = [127, 0, 0, 2];
    let mut stream = Raw::connect_from(&app, client).await;
    stream.send(&open_request(&bob, "bob", "")).await;
    stream.head().await;

    // A second connection from the same address is hung up on at once.
    let mut second = Raw::connect_from(&app, client).await;

    assert!(second.rest().await.is_empty());
    assert_eq!(direct_opens(&app), 1);
}

/// The same request answered by hyper (as a kept-alive connection's second
/// request) and by the direct path (a fresh connection's first): status
/// line and header lines (the values of `date` and `x-request-id`, which
/// differ per answer, masked), and what follows the head on each.
async fn hyper_and_direct(app: &TestApp, request: &[u8]) -> [(String, Vec<String>, Raw); 2] {
    let names = |h: &[(String, String)]| {
        h.iter()
            .map(|(n, v)| match n.as_str() {
                "date" | "x-request-id" => format!("{n}: …"),
                _ => format!("{n}: {v}"),
            })
            .collect::<Vec<_>>()
    };
    let mut kept = Raw::connect(app).await;
    kept.send(HEALTHZ).await;
    let (_, healthz) = kept.head().await;
    kept.body(&healthz).await;
    kept.send(request).await;
    let (hyper_status, hyper_headers) = kept.head().await;
    let mut raw = Raw::connect(app).await;
    raw.send(request).await;
    let (status, headers) = raw.head().await;
    [
        (hyper_status, names(&hyper_headers), kept),
        (status, names(&headers), raw),
    ]
}

#[tokio::test]
async fn an_http10_stream_as_nginx_sends_it_is_served_direct_until_the_close() {
    // Arrange: nginx's default upstream request (proxy_http_version 1.0).
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    app.send("bob", "one").await;
    let auth = bob.stream_auth("bob");
    let request = format!(
        "GET /v1/inbox/bob/stream?auth={auth} HTTP/1.0\r\nHost: x\r\nConnection: close\r\n\r\n"
    );

    // Act
    let [
        (hyper_status, hyper_names, mut hyper),
        (status, names, mut raw),
    ] = hyper_and_direct(&app, request.as_bytes()).await;

    // Assert: the head hyper writes for 1.0 (no chunked coding)…
    assert_eq!(status, "HTTP/1.0 200 OK");
    assert_eq!((&status, &names), (&hyper_status, &hyper_names));
    assert!(
        !names.iter().any(|n| n.starts_with("transfer-encoding:")),
        "{names:?}"
    );
    // …then the bare body on both: `: open`, the replay, a live event.
    for stream in [&mut hyper, &mut raw] {
        let replayed = stream.bytes_until("id: 1\n").await;
        assert!(replayed.starts_with(": open\n\n"), "{replayed}");
    }
    app.send("bob", "two").await;
    for stream in [&mut hyper, &mut raw] {
        assert!(
            stream
                .bytes_until("id: 2\n")
                .await
                .contains("event: message\n")
        );
    }
    assert_eq!(opens(&app), (1, 2));
}

#[tokio::test]
async fn a_stream_asking_for_close_is_served_direct_and_says_so() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    app.send("bob", "one").await;
    let request = open_request(&bob, "bob", "connection: close\r\n");

    let [(hyper_status, hyper_names, _), (status, names, mut raw)] =
        hyper_and_direct(&app, &request).await;

    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!((&status, &names), (&hyper_status, &hyper_names));
    assert!(names.iter().any(|n| n == "connection: close"), "{names:?}");
    assert!(raw.chunks_until("id: 1\n").await.starts_with(": open\n\n"));
    assert_eq!(direct_opens(&app), 1);
}

#[tokio::test]
async fn a_refused_http10_or_closing_stream_gets_its_error_then_the_close() {
    let app = spawn_app().await;
    let _bob = app.user("bob").await;
    for (request, want) in [
        (
            &b"GET /v1/inbox/bob/stream?auth=bad HTTP/1.0\r\n\r\n"[..],
            "HTTP/1.0 401 Unauthorized",
        ),
        (
            &b"GET /v1/inbox/bob/stream?auth=bad HTTP/1.1\r\nconnection: close\r\n\r\n"[..],
            "HTTP/1.1 401 Unauthorized",
        ),
    ] {
        let [(hyper_status, hyper_names, _), (status, names, mut raw)] =
            hyper_and_direct(&app, request).await;
        assert_eq!(status, want);
        assert_eq!((&status, &names), (&hyper_status, &hyper_names));
        let rest = String::from_utf8(raw.rest().await).unwrap();
        assert!(rest.contains("malformed_auth"), "{rest}");
        assert!(rest.ends_with('}'), "more after the error: {rest}");
    }
    assert_eq!(direct_opens(&app), 0);
}
