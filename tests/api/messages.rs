//! `POST /v1/messages`: storage, idempotency, limits, quotas, retention.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn a_posted_message_can_be_polled_by_its_recipient() {
    // Arrange
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    // Act
    let res = app
        .post_json(
            "/v1/messages",
            &message_body("bob", "msg-0000000000000001", "hello"),
        )
        .await;
    // Assert
    assert_eq!(res.status(), 201);
    let posted: Value = res.json().await.unwrap();
    assert_eq!(posted["seq"], 1);
    let inbox = app.poll(&bob, "bob", 0).await;
    let msgs = inbox["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["seq"], 1);
    assert_eq!(msgs[0]["id"], "msg-0000000000000001");
    assert_eq!(msgs[0]["envelope"], json!({"v": 2, "ct": "hello"}));
    assert_eq!(msgs[0]["received_at"], posted["received_at"]);
    assert_eq!(inbox["next"], 1);
}

#[tokio::test]
async fn seq_is_per_recipient_and_strictly_increasing() {
    let app = spawn_app().await;
    app.user("alice").await;
    app.user("bob").await;
    for expected in 1..=3 {
        let r: Value = app.send("bob", "x").await.json().await.unwrap();
        assert_eq!(r["seq"], expected);
    }
    let r: Value = app
        .send(&format!("alice@{SERVER}"), "x")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["seq"], 1);
}

#[tokio::test]
async fn a_retried_post_is_idempotent() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let body = message_body("bob", "retry-me-0000000001", "once");
    let first = app.post_json("/v1/messages", &body).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let second = app.post_json("/v1/messages", &body).await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.json::<Value>().await.unwrap(), first);
    assert_eq!(app.inbox_len(&bob, "bob").await, 1);
}

#[tokio::test]
async fn bad_posts_get_clear_errors() {
    let app = spawn_app().await;
    app.user("bob").await;
    assert_error(app.send("nobody", "x").await, 404, "unknown_recipient").await;
    assert_error(
        app.send("bob@elsewhere.example", "x").await,
        422,
        "foreign_recipient",
    )
    .await;
    for bad_id in ["short", "has spaces in it!!", &"x".repeat(65)] {
        let res = app
            .post_json("/v1/messages", &message_body("bob", bad_id, "x"))
            .await;
        assert_error(res, 422, "invalid_message_id").await;
    }
    let res = app
        .post_json(
            "/v1/messages",
            &json!({"to": "bob", "id": random_id(), "envelope": "not an object"}),
        )
        .await;
    assert_error(res, 422, "invalid_body").await;
    let res = app
        .post_json("/v1/messages", &json!({"to": "bob", "id": random_id()}))
        .await;
    assert_error(res, 422, "invalid_body").await;
    let big = "a".repeat(256 * 1024);
    let res = app
        .post_json("/v1/messages", &message_body("bob", &random_id(), &big))
        .await;
    assert_error(res, 413, "payload_too_large").await;
    let huge = "a".repeat(400 * 1024);
    let res = app
        .post_json("/v1/messages", &message_body("bob", &random_id(), &huge))
        .await;
    assert_error(res, 413, "payload_too_large").await;
}

#[tokio::test]
async fn the_61st_post_in_a_minute_is_rate_limited() {
    let app = spawn_app_with(|c| c.message_rate_per_minute = 60).await;
    app.user("bob").await;
    for _ in 0..60 {
        assert_eq!(app.send("bob", "x").await.status(), 201);
    }
    let res = app.send("bob", "x").await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_error(res, 429, "rate_limited").await;
}

#[tokio::test]
async fn a_full_mailbox_refuses_new_messages_whoever_sends_them() {
    // One sender here: the total quota, not the per-sender share.
    let app = spawn_app_with(|c| {
        c.mailbox_max_messages = 3;
        c.mailbox_sender_share_percent = 100;
    })
    .await;
    app.user("bob").await;
    app.user("carol").await;
    for _ in 0..3 {
        assert_eq!(app.send("bob", "x").await.status(), 201);
    }
    assert_error(app.send("bob", "x").await, 507, "mailbox_full").await;
    // Another mailbox is unaffected.
    assert_eq!(app.send("carol", "x").await.status(), 201);
}

#[tokio::test]
async fn the_byte_quota_is_enforced_too() {
    let app = spawn_app_with(|c| {
        c.mailbox_max_bytes = 10_000;
        c.mailbox_sender_share_percent = 100;
    })
    .await;
    app.user("bob").await;
    let chunk = "a".repeat(4_000);
    assert_eq!(app.send("bob", &chunk).await.status(), 201);
    assert_eq!(app.send("bob", &chunk).await.status(), 201);
    assert_error(app.send("bob", &chunk).await, 507, "mailbox_full").await;
}

#[tokio::test]
async fn retention_purges_old_messages_and_frees_quota() {
    let app = spawn_app_with(|c| {
        c.retention_hours = 0;
        c.retention_interval_secs = 1;
        c.mailbox_max_messages = 2;
        c.mailbox_sender_share_percent = 100;
    })
    .await;
    let bob = app.user("bob").await;
    assert_eq!(app.send("bob", "old-1").await.status(), 201);
    assert_eq!(app.send("bob", "old-2").await.status(), 201);
    // The purge task deletes them once they're in the past.
    wait_for(10, "the retention task to purge", async || {
        app.inbox_len(&bob, "bob").await == 0
    })
    .await;
    // The quota counters went down with the purge, and seq keeps increasing.
    let r: Value = app.send("bob", "new").await.json().await.unwrap();
    assert_eq!(r["seq"], 3);
}

#[tokio::test]
async fn messages_survive_a_restart() {
    let mut app = spawn_app().await;
    let bob = app.user("bob").await;
    for _ in 0..5 {
        assert_eq!(app.send("bob", "persist").await.status(), 201);
    }
    app.restart().await;
    assert_eq!(app.inbox_len(&bob, "bob").await, 5);
    let r: Value = app.send("bob", "after").await.json().await.unwrap();
    assert_eq!(r["seq"], 6);
}

#[tokio::test]
async fn polling_pages_at_500() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    app.send_concurrently("bob", 600, "p").await;
    let first = app.poll(&bob, "bob", 0).await;
    let msgs = first["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 500);
    assert_eq!(first["next"], 500);
    let seqs: Vec<u64> = msgs.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=500).collect::<Vec<_>>());
    let second = app.poll(&bob, "bob", 500).await;
    assert_eq!(second["messages"].as_array().unwrap().len(), 100);
    assert_eq!(second["next"], 600);
    let empty = app.poll(&bob, "bob", 600).await;
    // 600 of the default 10,000 messages.
    let want = json!({"messages": [], "next": null, "newest": 600, "used_percent": 6});
    assert_eq!(empty, want);
}

/// Posts a fresh message to bob with `headers` added (a name given twice
/// makes two header lines); returns the status.
async fn post_with_headers(app: &TestApp, headers: &[(&str, &str)]) -> u16 {
    let mut req =
        app.client
            .post(app.url("/v1/messages"))
            .json(&message_body("bob", &random_id(), "x"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let app = spawn_app_with(|c| {
        c.trust_proxy = true;
        c.message_rate_per_minute = 1;
    })
    .await;
    app.user("bob").await;
    let xff = |ip| [("x-forwarded-for", ip)];
    assert_eq!(post_with_headers(&app, &xff("203.0.113.1")).await, 201);
    assert_eq!(post_with_headers(&app, &xff("203.0.113.1")).await, 429);
    // Another client behind the same proxy has its own bucket; the last hop counts.
    let two_hops = xff("203.0.113.1, 203.0.113.2");
    assert_eq!(post_with_headers(&app, &two_hops).await, 201);
    // A proxy that adds its own X-Forwarded-For line below the client's
    // (HAProxy): the client's made-up line is not the address.
    for made_up in ["198.51.100.7", "198.51.100.8"] {
        let lines = [
            ("x-forwarded-for", made_up),
            ("x-forwarded-for", "203.0.113.1"),
        ];
        assert_eq!(post_with_headers(&app, &lines).await, 429, "{made_up}");
    }
    // Behind nginx or Caddy a client's own CF-Connecting-IP is passed
    // through: it must not buy a new bucket.
    for spoofed in ["203.0.113.3", "203.0.113.4"] {
        let headers = [
            ("x-forwarded-for", "203.0.113.1"),
            ("cf-connecting-ip", spoofed),
        ];
        assert_eq!(post_with_headers(&app, &headers).await, 429);
    }
}

#[tokio::test]
async fn behind_cloudflare_cf_connecting_ip_is_the_client() {
    use kez_chat_server::config::ClientIpHeader;
    let app = spawn_app_with(|c| {
        c.trust_proxy = true;
        c.client_ip_header = ClientIpHeader::CfConnectingIp;
        c.message_rate_per_minute = 1;
    })
    .await;
    app.user("bob").await;
    let post = async |cf, xff| {
        post_with_headers(&app, &[("cf-connecting-ip", cf), ("x-forwarded-for", xff)]).await
    };
    assert_eq!(post("203.0.113.3", "198.51.100.1").await, 201);
    // Same client, another X-Forwarded-For: still the same bucket.
    assert_eq!(post("203.0.113.3", "198.51.100.2").await, 429);
    assert_eq!(post("203.0.113.4", "198.51.100.1").await, 201);
}

#[tokio::test]
async fn without_trust_proxy_forwarded_headers_are_ignored() {
    let app = spawn_app_with(|c| c.message_rate_per_minute = 1).await;
    app.user("bob").await;
    for (ip, status) in [("203.0.113.1", 201), ("203.0.113.2", 429)] {
        assert_eq!(
            post_with_headers(&app, &[("x-forwarded-for", ip)]).await,
            status,
            "spoofed X-Forwarded-For must not buy a new bucket"
        );
    }
}

#[tokio::test]
async fn a_rate_limited_post_is_refused_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Arrange: one post a minute, already used.
    let app = spawn_app_with(|c| c.message_rate_per_minute = 1).await;
    app.user("bob").await;
    assert_eq!(app.send("bob", "x").await.status(), 201);
    let addr = app.server.as_ref().unwrap().addr;
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();

    // Act: announce a 300 KB body and send none of it.
    conn.write_all(
        format!(
            "POST /v1/messages HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 300000\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();

    // Assert: the 429 comes without the server waiting for the body.
    let mut head = vec![0u8; 4096];
    let n = within(10, "a 429 without the body", conn.read(&mut head))
        .await
        .unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
    assert!(head.contains("\"rate_limited\""), "{head}");
}

#[tokio::test]
async fn retention_purges_in_chunks_and_keeps_the_quota_counters_right() {
    use kez_chat_server::kez::Handle;
    use kez_chat_server::store::{NewMessage, PURGE_CHUNK, SenderTags};
    // Arrange: 2.5 chunks of old messages and one fresh one, for two handles
    // (a retention long enough that the server's own passes, one at start,
    // never take any of them while they are being posted).
    let app = spawn_app_with(|c| {
        c.mailbox_max_messages = 5_000;
        c.retention_hours = 24 * 365;
    })
    .await;
    let bob = app.user("bob").await;
    app.user("carol").await;
    let state = app.server.as_ref().unwrap().state.clone();
    let old = chrono::Utc::now().timestamp() - 10 * 86_400;
    let posts = (0..PURGE_CHUNK * 5 / 2).map(|i| {
        let store = state.store.clone();
        let limits = state.mailbox_limits();
        async move {
            let to = if i % 2 == 0 { "bob" } else { "carol" };
            let msg = NewMessage {
                recipient: Handle::parse(to).unwrap(),
                client_id: format!("old-message-{i:010}"),
                envelope: serde_json::value::RawValue::from_string(r#"{"v":2}"#.into()).unwrap(),
                sender: SenderTags::default(),
            };
            store.post_message(msg, limits, old, |_| {}).await.unwrap();
        }
    });
    futures_util::future::join_all(posts).await;
    assert_eq!(app.send("bob", "fresh").await.status(), 201);

    // Act
    let deleted = state.store.purge_messages_before(old + 1).await.unwrap();

    // Assert: all old ones gone, the fresh one kept, and the counters agree
    // (a mailbox limited to exactly its remaining count takes no more).
    assert_eq!(deleted, PURGE_CHUNK * 5 / 2);
    let inbox = app.poll(&bob, "bob", 0).await;
    let left = inbox["messages"].as_array().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["seq"], PURGE_CHUNK * 5 / 4 + 1);
    let mut full = state.mailbox_limits();
    full.max_messages = 1;
    let extra = || NewMessage {
        recipient: Handle::parse("bob").unwrap(),
        client_id: "one-too-many-000".into(),
        envelope: serde_json::value::RawValue::from_string("{}".into()).unwrap(),
        sender: SenderTags::default(),
    };
    let post = |limits| state.store.post_message(extra(), limits, old, |_| {});
    assert!(post(full).await.is_err());
    full.max_messages = 2;
    assert!(post(full).await.is_ok());
}

#[tokio::test]
async fn with_the_disk_almost_full_new_messages_are_refused_and_reads_and_retries_go_on() {
    if skip_on_postgres("--min-free-disk-mb watches SQLite's disk only (SPEC §11.2)") {
        return;
    }
    // Arrange: one message stored, then the server restarts with a minimum
    // of free space no disk can meet.
    let mut app = spawn_app().await;
    let bob = app.user("bob").await;
    let stored = message_body("bob", &random_id(), "before");
    assert_eq!(app.post_json("/v1/messages", &stored).await.status(), 201);
    app.config.min_free_disk_mb = u64::MAX >> 20;
    app.restart().await;

    // Act
    let new = app.send("bob", "x").await;
    let retry = app.post_json("/v1/messages", &stored).await;

    // Assert: new messages refused; the retry of a stored one still gets its
    // seq (SPEC §7.1); reads go on.
    assert_error(new, 507, "storage_full").await;
    assert_eq!(retry.status(), 200);
    assert_eq!(retry.json::<Value>().await.unwrap()["seq"], 1);
    assert_eq!(app.inbox_len(&bob, "bob").await, 1);
}
