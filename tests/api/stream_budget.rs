//! The byte budget of SSE streams per client network (SPEC §7.4): one
//! network's stalled readers hold at most its share of the process-wide
//! budget, and other networks' streams still get their events.

use crate::helpers::*;

#[tokio::test]
async fn one_networks_stalled_streams_hold_at_most_its_share() {
    use kez_chat_server::inbox::STREAM_BUFFER_BYTES;
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
    // more than its share (the reader's own stream adds at most its budget).
    let net = std::net::IpAddr::from([203, 0, 113, 7]);
    for _ in 0..20 {
        let (all, ours) = (budget.in_use(), budget.network_in_use(net));
        assert!(
            all <= share + STREAM_BUFFER_BYTES,
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
