//! The byte budget of SSE streams per client network (SPEC §7.4): one
//! network's stalled readers hold at most its share of the process-wide
//! budget, and other networks' streams still get their events.

use crate::helpers::*;

#[tokio::test]
async fn one_networks_stalled_streams_hold_at_most_its_share() {
    use kez_chat_server::inbox::{STREAM_BUFFER_BYTES, STREAM_PAGE_BOUND};
    // Arrange: 100 envelopes of ~250 KiB; streams may come from a proxy.
    let app = spawn_app_with(|c| {
        c.mailbox_sender_share_percent = 100;
        c.max_streams_per_handle = 64;
        c.trust_proxy = true;
        c.write_timeout_secs = 600;
    })
    .await;
    let bob = app.user("bob").await;
    crate::inbox::post_big(&app, "bob", 100).await;
    let budget = app.state().streams.bytes.clone();
    let share = budget.network_share();

    // Act: 24 streams from one network that never read a byte (together
    // they would queue ~12 MiB, more than the 8 MiB share)…
    let mut stalled = Vec::new();
    for _ in 0..24 {
        let conn = app
            .stalled_stream(&bob, "bob", "x-forwarded-for: 203.0.113.7\r\n")
            .await;
        stalled.push(conn);
    }
    wait_for(
        30,
        "the stalled streams to fill the network's share",
        async || budget.in_use() >= share - STREAM_BUFFER_BYTES,
    )
    .await;
    // …and one stream from another network that reads.
    let res = app
        .client
        .get(app.url(&format!(
            "/v1/inbox/bob/stream?auth={}",
            bob.stream_auth("bob")
        )))
        .header("x-forwarded-for", "198.51.100.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut reader = events(res);

    // Assert: the reader gets its events; the stalled network holds no
    for seq in 1..=3 {
        assert_eq!(next_message(&mut reader).await["seq"], seq);
    }
    // more than its share (the reader's own stream adds at most its budget
    // and the rest of the page it replays).
    let net = std::net::IpAddr::from([203, 0, 113, 7]);
    for _ in 0..20 {
        let (all, ours) = (budget.in_use(), budget.network_in_use(net));
        assert!(
            all <= share + STREAM_BUFFER_BYTES + STREAM_PAGE_BOUND,
            "{all} > {share} + one stream"
        );
        assert!(ours <= share, "{ours} > {share}");
        tokio::task::yield_now().await;
    }
    drop(stalled);
    drop(reader);
    wait_for(
        30,
        "the closed streams to release their bytes",
        async || budget.in_use() == 0,
    )
    .await;
}

/// A poll of bob's mailbox from `from`, through the app's own router, its
/// answer not read: the kernel's socket buffers (several MiB on loopback)
/// cannot take it, so it stays in the server as a slow reader's does.
async fn unread_poll(app: &TestApp, id: &TestIdentity, from: [u8; 4]) -> axum::response::Response {
    use tower::ServiceExt as _;
    let mut req = axum::http::Request::get("/v1/inbox/bob?since=0")
        .header("host", app.addr().to_string())
        .header("x-kez-auth", id.poll_auth("bob", 0))
        .body(axum::body::Body::empty())
        .unwrap();
    let peer = std::net::SocketAddr::from((from, 40_000));
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    kez_chat_server::app(app.state().clone())
        .oneshot(req)
        .await
        .unwrap()
}

/// Poll answers (SPEC §7.3) hold their bytes of the client network's share
/// until written: one network's unread answers pin at most its share; past
/// it that network's polls get 429 `busy` while others' get their pages,
/// and the bytes come back once the answers are gone.
#[tokio::test]
async fn one_networks_unread_polls_hold_at_most_its_share() {
    // Arrange: 20 envelopes of ~250 KiB (a poll page is 3 of them).
    let app = spawn_app_with(|c| c.mailbox_sender_share_percent = 100).await;
    let bob = app.user("bob").await;
    crate::inbox::post_big(&app, "bob", 20).await;
    let budget = app.state().streams.bytes.clone();
    let (share, net) = (budget.network_share(), [203, 0, 113, 7]);

    // Act: 16 polls from one network whose answers nobody reads (together
    // ~12 MiB, more than the 8 MiB share).
    let mut unread = Vec::new();
    for _ in 0..16 {
        unread.push(unread_poll(&app, &bob, net).await);
    }

    // Assert: those answered in full hold their bytes, the rest were
    // refused, and the network never held more than its share.
    let held = budget.network_in_use(std::net::IpAddr::from(net));
    assert!(held > share / 2 && held <= share, "{held} of {share}");
    let statuses: Vec<u16> = unread.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&429),
        "{statuses:?}"
    );
    let (refused, kept): (Vec<_>, Vec<_>) = unread.into_iter().partition(|r| r.status() == 429);
    let refused = refused.into_iter().next().unwrap();
    assert_eq!(refused.headers()["retry-after"], "1");
    let body = axum::body::to_bytes(refused.into_body(), 4096)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "busy", "{body}");
    // Another network still gets its page.
    let other = unread_poll(&app, &bob, [198, 51, 100, 9]).await;
    assert_eq!(other.status(), 200);
    drop(other);
    assert_eq!(budget.network_in_use(std::net::IpAddr::from(net)), held);
    // The answers' bytes go with them (here dropped unread; written, they
    // go once the last byte is in the socket).
    drop(kept);
    assert_eq!(budget.in_use(), 0);
    assert_eq!(unread_poll(&app, &bob, net).await.status(), 200);
}
