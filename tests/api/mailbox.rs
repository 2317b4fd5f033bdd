//! A mailbox as its owner sees it: envelopes kept byte for byte (SPEC §7.1),
//! cursors ahead of the mailbox (§7.3, §7.4), seqs after a restored backup,
//! how full it is, releasing what was read and the per-sender share of the
//! quota (§7.5).

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::helpers::*;

/// Valid strict JSON that any parse-and-re-encode changes: an integer above
/// 2^53, one beyond u64, exponents, `-0`, trailing zeros, keys out of
/// order, `\u` and `\/` escapes, tabs and newlines between tokens.
pub(crate) const ODD_ENVELOPE: &str = "{ \"v\" : 2,\n\t\"zz\":9007199254740993 ,\"aa\":\"caf\\u00e9 \\/ \\ud83d\\ude00\",\
    \"n\":[1E5,-0,1.50,1e-7,123456789012345678901234567890],\n  \"ct\" :\"x\"  }";

#[derive(Deserialize)]
struct RawPoll {
    messages: Vec<RawMessage>,
}

/// A message as delivered, its envelope kept as raw bytes.
#[derive(Deserialize)]
pub(crate) struct RawMessage {
    pub(crate) envelope: Box<RawValue>,
}

/// The data of the next `message` event, unparsed, within 10 s.
pub(crate) async fn next_message_data(
    stream: &mut (impl futures_util::Stream<Item = eventsource_stream::Event> + Unpin),
) -> String {
    within(10, "a message event", async {
        loop {
            let ev = stream.next().await.expect("stream ended");
            if ev.event == "message" {
                return ev.data;
            }
        }
    })
    .await
}

/// Posts `envelope`, written as is into the body, to `to`.
pub(crate) async fn post_envelope(app: &TestApp, to: &str, envelope: &str) -> reqwest::Response {
    let body = format!(
        "{{\"to\":\"{to}\",\"id\":\"{}\",\"envelope\":  {envelope}  }}",
        random_id()
    );
    app.post_raw("/v1/messages", "application/json", body.into_bytes())
        .await
}

#[tokio::test]
async fn an_envelope_comes_back_byte_for_byte_through_poll_and_stream() {
    // Arrange
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let mut stream = app.open_stream(&bob, "bob", None).await;

    // Act
    let res = post_envelope(&app, "bob", ODD_ENVELOPE).await;

    // Assert
    assert_eq!(res.status(), 201);
    let polled = app
        .client
        .get(app.url("/v1/inbox/bob?since=0"))
        .header("x-kez-auth", bob.poll_auth("bob", 0))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let polled: RawPoll = serde_json::from_str(&polled).unwrap();
    assert_eq!(polled.messages[0].envelope.get(), ODD_ENVELOPE);
    let event = next_message_data(&mut stream).await;
    let streamed: RawMessage = serde_json::from_str(&event).unwrap();
    assert_eq!(streamed.envelope.get(), ODD_ENVELOPE);
}

#[tokio::test]
async fn envelopes_that_are_not_objects_too_large_or_carry_a_cr_are_refused() {
    let app = spawn_app().await;
    app.user("bob").await;
    for not_object in ["[1]", "\"text\"", "7", "null"] {
        let res = post_envelope(&app, "bob", not_object).await;
        assert_error(res, 422, "invalid_body").await;
    }
    let res = post_envelope(&app, "bob", "{\"v\":2,\r\n\"ct\":\"x\"}").await;
    assert_error(res, 422, "invalid_envelope").await;
    // 256 KiB as sent, whitespace included.
    let padded = format!("{{\"ct\":\"x\"{}}}", " ".repeat(256 * 1024));
    assert_error(
        post_envelope(&app, "bob", &padded).await,
        413,
        "payload_too_large",
    )
    .await;
    let fits = format!("{{\"ct\":\"{}\"}}", "x".repeat(256 * 1024 - 10));
    assert_eq!(post_envelope(&app, "bob", &fits).await.status(), 201);
}

/// Posts `n` messages to `to` one after the other; returns the last seq.
async fn post_n(app: &TestApp, to: &str, n: usize) -> u64 {
    let mut last = 0;
    for _ in 0..n {
        let res = app.send(to, "x").await;
        assert_eq!(res.status(), 201);
        last = res.json::<serde_json::Value>().await.unwrap()["seq"]
            .as_u64()
            .unwrap();
    }
    last
}

#[tokio::test]
async fn a_poll_says_how_far_the_mailbox_goes_so_a_cursor_ahead_shows() {
    // Arrange
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    post_n(&app, "bob", 2).await;

    // Act
    let ahead = app.poll(&bob, "bob", 5).await;
    let behind = app.poll(&bob, "bob", 1).await;

    // Assert
    assert_eq!(ahead["messages"].as_array().unwrap().len(), 0);
    assert_eq!(ahead["newest"], 2);
    assert_eq!(behind["next"], 2);
    assert_eq!(behind["newest"], 2);
}

#[tokio::test]
async fn a_stream_with_a_cursor_ahead_gets_a_reset_then_goes_on_from_the_newest() {
    // Arrange
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    post_n(&app, "bob", 2).await;

    // Act (bob's handle already looked up and that stream's reads over, so
    // every read counted is the next stream's)
    drop(app.open_stream(&bob, "bob", None).await);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let reads = app.state().store.reads();
    let mut stream = app.open_stream(&bob, "bob", Some(5)).await;
    let first = within(10, "the first event", stream.next())
        .await
        .expect("stream ended");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let reads = app.state().store.reads() - reads;
    post_n(&app, "bob", 1).await;

    // Assert
    assert_eq!(
        (first.event.as_str(), first.id.as_str()),
        ("reset", "2"),
        "{first:?}"
    );
    let data: serde_json::Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(data, serde_json::json!({"newest": 2}));
    assert_eq!(next_message(&mut stream).await["seq"], 3);
    // One trip to the store: the read that found the newest seq also
    // showed nothing after it (issue 14; it used to be read again).
    assert_eq!(reads, 1);
}

#[tokio::test]
async fn a_server_restored_from_a_backup_never_reuses_a_seq_its_clients_saw() {
    if skip_on_postgres("store::backup copies a SQLite file") {
        return;
    }
    // Arrange: a backup after seq 3, then seqs 4 and 5 seen by bob's device.
    let mut old = spawn_app().await;
    let bob = old.user("bob").await;
    post_n(&old, "bob", 3).await;
    let copy = old._dir.path().join("backup.db");
    kez_chat_server::store::backup(&old.config.db, &copy).unwrap();
    let cursor = post_n(&old, "bob", 2).await;
    old.server.take().unwrap().shutdown().await;

    // Act: the copy is restored and someone writes to bob.
    let restored = spawn_app_with(|c| c.db = copy.clone()).await;
    let seq = post_n(&restored, "bob", 1).await;

    // Assert
    assert!(
        seq > cursor,
        "new seq {seq} reuses one bob saw (≤ {cursor})"
    );
    let page = restored.poll(&bob, "bob", cursor).await;
    assert_eq!(page["messages"][0]["seq"], seq);
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
}

/// `DELETE /v1/inbox/{handle}?through=` signed by `id` for `signed_through`.
async fn release(
    app: &TestApp,
    id: &TestIdentity,
    handle: &str,
    through: u64,
    signed_through: u64,
) -> reqwest::Response {
    let ts = now();
    let string = kez_chat_server::kez::auth::release_string(SERVER, handle, signed_through, ts);
    app.client
        .delete(app.url(&format!("/v1/inbox/{handle}?through={through}")))
        .header("x-kez-auth", id.auth(&string, ts))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_owner_frees_a_full_mailbox_by_releasing_what_it_has() {
    // Arrange
    let app = spawn_app_with(|c| {
        c.mailbox_max_messages = 3;
        c.mailbox_sender_share_percent = 100;
    })
    .await;
    let bob = app.user("bob").await;
    post_n(&app, "bob", 3).await;
    assert_error(app.send("bob", "x").await, 507, "mailbox_full").await;

    // Act
    let res = release(&app, &bob, "bob", 2, 2).await;

    // Assert
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"deleted": 2})
    );
    assert_eq!(post_n(&app, "bob", 2).await, 5);
    let page = app.poll(&bob, "bob", 0).await;
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4, 5]);
    assert_eq!(page["newest"], 5);
}

#[tokio::test]
async fn a_poll_says_how_full_the_mailbox_is_so_clients_release_only_under_pressure() {
    // Arrange: a quota of 10 messages, all of it open to one sender.
    let app = spawn_app_with(|c| {
        c.mailbox_max_messages = 10;
        c.mailbox_sender_share_percent = 100;
    })
    .await;
    let bob = app.user("bob").await;
    let empty = app.poll(&bob, "bob", 0).await;

    // Act
    let last = post_n(&app, "bob", 6).await;
    let full = app.poll(&bob, "bob", 0).await;
    assert_eq!(release(&app, &bob, "bob", last, last).await.status(), 200);
    let released = app.poll(&bob, "bob", last).await;

    // Assert
    assert_eq!(empty["used_percent"], 0);
    assert!(full["used_percent"].as_u64().unwrap() >= 50, "{full}");
    assert_eq!(full["used_percent"], 60);
    assert_eq!(released["used_percent"], 0);
}

#[tokio::test]
async fn a_release_not_signed_by_the_owner_for_that_seq_is_refused() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let mallory = app.user("mallory").await;
    post_n(&app, "bob", 3).await;
    let res = release(&app, &mallory, "bob", 3, 3).await;
    assert_error(res, 401, "bad_signature").await;
    // A signature for a smaller release does not stretch to a larger one.
    assert_error(release(&app, &bob, "bob", 3, 1).await, 401, "bad_signature").await;
    let unsigned = app.request(reqwest::Method::DELETE, "/v1/inbox/bob?through=3");
    assert_error(unsigned.await, 401, "missing_auth").await;
    let no_through = app.request(reqwest::Method::DELETE, "/v1/inbox/bob");
    assert_error(no_through.await, 400, "invalid_query").await;
    assert_eq!(app.inbox_len(&bob, "bob").await, 3);
}

/// Posts a message to `to` as if from `ip` (behind a trusted proxy).
pub(crate) async fn send_from(app: &Api, to: &str, ip: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/messages"))
        .header("x-forwarded-for", ip)
        .json(&message_body(to, &random_id(), "x"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn one_sender_cannot_take_the_whole_mailbox() {
    // Arrange: 8 messages; a sender (IPv4, or an IPv6 /64) may hold 25 %.
    let app = spawn_app_with(|c| {
        c.mailbox_max_messages = 8;
        c.trust_proxy = true;
    })
    .await;
    let bob = app.user("bob").await;
    app.user("carol").await;

    // Act + Assert
    for ip in ["203.0.113.7", "203.0.113.7"] {
        assert_eq!(send_from(&app, "bob", ip).await.status(), 201);
    }
    assert_error(
        send_from(&app, "bob", "203.0.113.7").await,
        507,
        "mailbox_full",
    )
    .await;
    // Another mailbox and another sender are unaffected.
    assert_eq!(send_from(&app, "carol", "203.0.113.7").await.status(), 201);
    assert_eq!(send_from(&app, "bob", "2001:db8::1").await.status(), 201);
    assert_eq!(send_from(&app, "bob", "2001:db8::2").await.status(), 201);
    let same_64 = send_from(&app, "bob", "2001:db8::3").await;
    assert_error(same_64, 507, "mailbox_full").await;
    // Released messages no longer count against their sender.
    assert_eq!(release(&app, &bob, "bob", 1, 1).await.status(), 200);
    assert_eq!(send_from(&app, "bob", "203.0.113.7").await.status(), 201);
}

#[tokio::test]
async fn a_senders_share_survives_a_restart_and_is_shared_by_replicas() {
    // Arrange: a sender at its 25 % of 8 messages.
    let mut app = spawn_app_with(|c| {
        c.mailbox_max_messages = 8;
        c.trust_proxy = true;
    })
    .await;
    app.user("bob").await;
    for _ in 0..2 {
        assert_eq!(send_from(&app, "bob", "203.0.113.7").await.status(), 201);
    }

    // Act: the server restarts on the same file.
    app.restart().await;

    // Assert: still refused there, and by a second instance on the file.
    let res = send_from(&app, "bob", "203.0.113.7").await;
    assert_error(res, 507, "mailbox_full").await;
    let replica = kez_chat_server::server::start(app.config.clone())
        .await
        .expect("a replica starts");
    let other = Api::new(format!("http://{}", replica.addr));
    let res = send_from(&other, "bob", "203.0.113.7").await;
    assert_error(res, 507, "mailbox_full").await;
    replica.shutdown().await;
}

#[tokio::test]
async fn a_stream_that_never_reads_holds_at_most_its_byte_budget() {
    use kez_chat_server::inbox::{STREAM_BUFFER_BYTES, STREAM_PAGE_BOUND};
    // Arrange: 100 envelopes of ~250 KiB, far more than socket buffers hold.
    let app = spawn_app_with(|c| c.mailbox_sender_share_percent = 100).await;
    let bob = app.user("bob").await;
    crate::inbox::post_big(&app, "bob", 100).await;
    let budget = app.state().streams.bytes.clone();

    // Act: a client asks for the stream, then never reads a byte.
    let stalled = app.stalled_stream(&bob, "bob", "").await;

    // Assert: what it holds (queued events, the frames being written, the
    // rest of the page it replays) fills up to its byte budget plus one
    // page (a few events), not to its event count (16 events, 4 MiB), and
    // stays there.
    wait_for(10, "the stalled stream's queue to fill", async || {
        budget.in_use() >= 2 * 250 * 1024
    })
    .await;
    for _ in 0..20 {
        assert!(
            budget.in_use() <= STREAM_BUFFER_BYTES + STREAM_PAGE_BOUND,
            "{}",
            budget.in_use()
        );
        tokio::task::yield_now().await;
    }
    drop(stalled);
    wait_for(10, "the closed stream to release its bytes", async || {
        budget.in_use() == 0
    })
    .await;
}
