//! Signed polling and the SSE stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use crate::helpers::*;

async fn poll_with(
    app: &TestApp,
    handle: &str,
    query: &str,
    auth: Option<String>,
) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url(&format!("/v1/inbox/{handle}{query}")));
    if let Some(a) = auth {
        req = req.header("x-kez-auth", a);
    }
    req.send().await.unwrap()
}

async fn stream_with(app: &TestApp, handle: &str, auth: Option<&str>) -> reqwest::Response {
    let q = auth.map(|a| format!("?auth={a}")).unwrap_or_default();
    app.get(&format!("/v1/inbox/{handle}/stream{q}")).await
}

#[tokio::test]
async fn poll_authentication_failures() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let mallory = app.user("mallory").await;
    let now = now();

    let signed = |handle| Some(bob.poll_auth(handle, 0));
    let ok = poll_with(&app, "bob", "?since=0", signed("bob")).await;
    assert_eq!(ok.status(), 200);
    // since defaults to 0 and the signed string carries the effective value
    let ok = poll_with(&app, "bob", "", signed("bob")).await;
    assert_eq!(ok.status(), 200);
    let mut refusals = vec![("bob", "", None, 401, "missing_auth")];
    let stale = [now - 301, now + 301].map(|ts| bob.poll_auth_at("bob", 0, ts));
    refusals.extend(stale.map(|a| ("bob", "", Some(a), 401, "stale_auth")));
    // Another key; a signature for another handle or another since does
    // not transfer, nor does a stream signature replayed here.
    let foreign = [
        ("", mallory.poll_auth("bob", 0)),
        ("", bob.poll_auth("mallory", 0)),
        ("?since=5", bob.poll_auth("bob", 0)),
        ("", bob.stream_auth("bob")),
    ];
    refusals.extend(foreign.map(|(q, a)| ("bob", q, Some(a), 401, "bad_signature")));
    let garbage = ["", "nonsense", "123:", ":abc", "12x:00"].map(str::to_owned);
    refusals.extend(garbage.map(|g| ("bob", "", Some(g), 401, "malformed_auth")));
    refusals.push(("nobody", "", signed("nobody"), 404, "not_found"));
    refusals.push(("bob", "?since=-1", signed("bob"), 400, "invalid_query"));
    for (handle, query, auth, status, code) in refusals {
        assert_error(poll_with(&app, handle, query, auth).await, status, code).await;
    }
    // Not even ASCII: malformed, not missing.
    let res = app
        .client
        .get(app.url("/v1/inbox/bob"))
        .header(
            "x-kez-auth",
            reqwest::header::HeaderValue::from_bytes(b"1700000000:\xff").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "malformed_auth").await;
}

#[tokio::test]
async fn stream_authentication_failures() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let stale = bob.stream_auth_at("bob", now() - 400);
    let stranger = TestIdentity::generate().stream_auth("bob");
    let refusals = [
        ("bob", None, 400, "missing_auth"),
        ("bob", Some("bad".to_owned()), 401, "malformed_auth"),
        // a poll signature replayed on the stream endpoint
        ("bob", Some(bob.poll_auth("bob", 0)), 401, "bad_signature"),
        ("bob", Some(stale), 401, "stale_auth"),
        ("bob", Some(stranger), 401, "bad_signature"),
        ("nobody", Some(bob.stream_auth("nobody")), 404, "not_found"),
    ];
    for (handle, auth, status, code) in refusals {
        let res = stream_with(&app, handle, auth.as_deref()).await;
        assert_error(res, status, code).await;
    }
}

#[tokio::test]
async fn a_post_reaches_every_open_stream_of_the_recipient_only() {
    // Arrange
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut bob1 = app.open_stream(&bob, "bob", None).await;
    let mut bob2 = app.open_stream(&bob, "bob", None).await;
    let mut alice1 = app.open_stream(&alice, "alice", None).await;
    // Act
    assert_eq!(app.send("bob", "live!").await.status(), 201);
    // Assert
    for s in [&mut bob1, &mut bob2] {
        let m = next_message(s).await;
        assert_eq!(m["seq"], 1);
        assert_eq!(m["envelope"]["ct"], "live!");
    }
    let nothing = tokio::time::timeout(Duration::from_millis(300), alice1.next()).await;
    assert!(nothing.is_err(), "alice's stream received bob's message");
}

#[tokio::test]
async fn reconnecting_with_last_event_id_gets_exactly_the_missed_messages() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let mut s = app.open_stream(&bob, "bob", None).await;
    for _ in 0..3 {
        app.send("bob", "a").await;
    }
    for expected in 1..=3 {
        assert_eq!(next_message(&mut s).await["seq"], expected);
    }
    drop(s);
    for _ in 0..4 {
        app.send("bob", "b").await;
    }
    let mut s = app.open_stream(&bob, "bob", Some(3)).await;
    for expected in 4..=7 {
        assert_eq!(next_message(&mut s).await["seq"], expected);
    }
    app.send("bob", "c").await;
    assert_eq!(next_message(&mut s).await["seq"], 8);
}

#[tokio::test]
async fn messages_posted_while_a_stream_connects_arrive_once_and_in_order() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let posted = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (api, posted) = (app.api.clone(), posted.clone());
        tokio::spawn(async move {
            for i in 0..200 {
                let body = message_body("bob", &format!("concurrent-{i:06}-xxxxx"), "m");
                assert_eq!(api.post_json("/v1/messages", &body).await.status(), 201);
                posted.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Connect mid-flight: part of the 200 is replayed, the rest arrives live.
    wait_for(10, "the first posts", async || {
        posted.load(Ordering::Relaxed) >= 10
    })
    .await;
    let mut s = app.open_stream(&bob, "bob", Some(0)).await;
    for expected in 1..=200u64 {
        let m = next_message(&mut s).await;
        assert_eq!(m["seq"], expected, "gap or duplicate");
    }
    sender.await.unwrap();
    let extra = tokio::time::timeout(Duration::from_millis(300), s.next()).await;
    assert!(
        extra.is_err(),
        "a duplicate arrived after the 200th message"
    );
}

#[tokio::test]
async fn a_lagging_stream_is_caught_up_from_the_database() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let mut s = app.open_stream(&bob, "bob", None).await;
    // 300 posts without reading the stream: far beyond the 64-slot channel.
    let bodies: Vec<Value> = (0..300)
        .map(|i| message_body("bob", &format!("lag-{i:08}-xxxxxxx"), "m"))
        .collect();
    futures_util::future::join_all(bodies.iter().map(|b| app.post_json("/v1/messages", b))).await;
    for expected in 1..=300u64 {
        assert_eq!(next_message(&mut s).await["seq"], expected);
    }
}

#[tokio::test]
async fn a_ninth_stream_closes_the_oldest() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let mut streams = Vec::new();
    for _ in 0..8 {
        streams.push(app.open_stream(&bob, "bob", None).await);
    }
    let _ninth = app.open_stream(&bob, "bob", None).await;
    let oldest = &mut streams[0];
    let ev = within(5, "the oldest stream's close event", oldest.next())
        .await
        .unwrap();
    assert_eq!(ev.event, "close");
    let after = within(5, "the oldest stream to end", oldest.next()).await;
    assert!(after.is_none(), "the oldest stream stayed open");
    assert_eq!(app.state().streams.open_count("bob"), 8);
    // The others still receive.
    app.send("bob", "x").await;
    assert_eq!(next_message(&mut streams[1]).await["seq"], 1);
}

#[tokio::test]
async fn streams_close_on_shutdown() {
    let mut app = spawn_app().await;
    let bob = app.user("bob").await;
    let mut s = app.open_stream(&bob, "bob", None).await;
    let server = app.server.take().unwrap();
    within(10, "shutdown despite an open stream", server.shutdown()).await;
    let end = within(5, "the stream to end", s.next()).await;
    assert!(end.is_none());
}

#[tokio::test]
async fn stream_replays_stored_messages_after_since() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    for _ in 0..5 {
        app.send("bob", "x").await;
    }
    let auth = bob.stream_auth("bob");
    let res = app
        .get(&format!("/v1/inbox/bob/stream?auth={auth}&since=2"))
        .await;
    let mut s = events(res);
    let seqs: Vec<Value> = vec![
        next_message(&mut s).await["seq"].clone(),
        next_message(&mut s).await["seq"].clone(),
        next_message(&mut s).await["seq"].clone(),
    ];
    assert_eq!(seqs, vec![3, 4, 5]);
}

#[tokio::test]
async fn idle_streams_get_keep_alive_comments() {
    let app = spawn_app_with(|c| c.sse_keepalive_secs = 1).await;
    let bob = app.user("bob").await;
    let auth = bob.stream_auth("bob");
    let mut res = app.get(&format!("/v1/inbox/bob/stream?auth={auth}")).await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(": keep-alive") {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .expect("no keep-alive within 10 s");
        seen.push_str(&String::from_utf8_lossy(
            &chunk.unwrap().expect("stream ended"),
        ));
    }
}

/// Posts `n` messages to `handle` whose envelopes are each about 250 KiB.
/// Posts `n` envelopes of about 250 KiB each to `handle` (byte-budget and page tests).
pub(crate) async fn post_big(app: &TestApp, handle: &str, n: usize) {
    let filler = "A".repeat(250 * 1024);
    for i in 0..n {
        let body = serde_json::json!({"to": handle, "id": random_id(),
            "envelope": {"v": 2, "n": i, "ct": filler}});
        assert_eq!(app.post_json("/v1/messages", &body).await.status(), 201);
    }
}

#[tokio::test]
async fn a_poll_page_stops_near_512_kib_and_next_fetches_the_rest() {
    // Arrange: 20 envelopes of ~250 KiB, about 5 MiB in all.
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    post_big(&app, "bob", 20).await;

    // Act: page through with `next`.
    let mut pages = Vec::new();
    let mut since = 0;
    loop {
        let page = app.poll(&bob, "bob", since).await;
        if page["messages"].as_array().unwrap().is_empty() {
            break;
        }
        since = page["next"].as_u64().unwrap();
        pages.push(page);
    }

    // Assert: cut by bytes (not by the 500 count): 512 KiB is reached by
    // the third envelope; nothing lost or repeated.
    let sizes: Vec<usize> = pages
        .iter()
        .map(|p| p["messages"].as_array().unwrap().len())
        .collect();
    assert!(
        sizes[..sizes.len() - 1].iter().all(|&n| n == 3),
        "{sizes:?}"
    );
    let seqs: Vec<u64> = pages
        .iter()
        .flat_map(|p| p["messages"].as_array().unwrap().clone())
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    assert_eq!(pages[1]["messages"][0]["envelope"]["n"], 3);
    // The stream replays the same backlog in 1 MiB pages, in order.
    let mut s = app.open_stream(&bob, "bob", None).await;
    for seq in 1..=20 {
        assert_eq!(next_message(&mut s).await["seq"], seq);
    }
}

#[tokio::test]
async fn a_stream_that_stops_reading_is_ended_when_a_newer_one_displaces_it() {
    use tokio::io::AsyncReadExt;
    // Arrange: far more stored than the socket buffers hold, and a client
    // that asks for the stream and then never reads a byte.
    // 25 MiB from one sender: more than its default share of the mailbox.
    let app = spawn_app_with(|c| {
        c.write_timeout_secs = 2;
        c.mailbox_sender_share_percent = 100;
    })
    .await;
    let bob = app.user("bob").await;
    post_big(&app, "bob", 100).await;
    let state = app.state().clone();
    let addr = app.addr();
    let mut stalled = app.stalled_stream(&bob, "bob", "").await;
    wait_for(10, "the stalled stream to open", async || {
        state.streams.open_count("bob") == 1
    })
    .await;

    // Act: eight newer streams of the same handle.
    let mut newer = Vec::new();
    for _ in 0..8 {
        newer.push(app.open_stream(&bob, "bob", Some(100)).await);
    }

    // Assert: the stalled stream's task ended although its client never read…
    wait_for(10, "the stalled stream's task to end", async || {
        state.streams.live_tasks() == 8
    })
    .await;
    assert_eq!(state.streams.open_count("bob"), 8);
    // …and once the write timeout passed, the server closed the connection
    // itself (so nothing stays buffered for it). Reading before that would
    // let the server write again, so watch the kernel's table instead.
    let client = stalled.local_addr().unwrap();
    wait_for(
        20,
        "the server to close the stalled connection",
        async || !established(addr, client),
    )
    .await;
    // Reading now drains what the kernel held and then hits the end,
    // without the body's last chunk.
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stalled.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the stalled connection is still open");
    assert!(!got.ends_with(b"0\r\n\r\n"), "the body was not cut off");
}

/// Whether the kernel still has the server's end of the IPv4 connection
/// `server` ↔ `client` established (Linux `/proc/net/tcp`).
pub(crate) fn established(server: SocketAddr, client: SocketAddr) -> bool {
    let hex = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => panic!("an IPv4 test server"),
    };
    let (local, remote) = (hex(server), hex(client));
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp (Linux)");
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl, local_address, rem_address, st (01 = ESTABLISHED)
        f.get(1) == Some(&local.as_str())
            && f.get(2) == Some(&remote.as_str())
            && f.get(3) == Some(&"01")
    })
}
