//! Direct streams under slow or absent clients and at shutdown: a reader
//! that stops, a head dribbled past the header timeout, a slow first head.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{direct_opens, open_request};
use crate::helpers::*;

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
