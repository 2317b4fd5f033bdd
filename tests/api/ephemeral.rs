//! Ephemeral posts (SPEC §7.7): `POST /v1/messages?ephemeral=true` with
//! `"ephemeral": true` reaches the recipient's live streams only, is never
//! written to SQLite, never polled or replayed, leaves seqs and
//! `Last-Event-ID` alone, and has its own per-IP bucket.

use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

use crate::helpers::*;

/// An ephemeral post body whose envelope carries `marker`.
fn ephemeral_body(to: &str, id: &str, marker: &str) -> Value {
    let mut body = message_body(to, id, marker);
    body["ephemeral"] = true.into();
    body
}

async fn post_ephemeral(app: &TestApp, to: &str, id: &str, marker: &str) -> reqwest::Response {
    app.post_json(
        "/v1/messages?ephemeral=true",
        &ephemeral_body(to, id, marker),
    )
    .await
}

/// Next event of the stream that is not a comment, within 10 s.
async fn next_event(
    stream: &mut (impl Stream<Item = eventsource_stream::Event> + Unpin),
) -> eventsource_stream::Event {
    within(10, "an event", async {
        stream.next().await.expect("stream ended")
    })
    .await
}

/// What the database holds now: on SQLite the bytes of its file and WAL
/// (freed pages included); on PostgreSQL the text of every row of every
/// table of the server's database.
async fn db_bytes(app: &TestApp) -> Vec<u8> {
    if let Some(url) = &app.config.database_url {
        return pg_rows_text(url.expose()).await.into_bytes();
    }
    let db = &app.config.db;
    let mut bytes = std::fs::read(db).unwrap();
    let wal = db.with_extension("db-wal");
    if let Ok(w) = std::fs::read(wal) {
        bytes.extend(w);
    }
    bytes
}

/// Every row of every table in the public schema, as PostgreSQL prints it.
async fn pg_rows_text(url: &str) -> String {
    // The test's own look needs no TLS (the server's connections have it).
    let url = url.replace("sslmode=require", "sslmode=disable");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let tables = client
        .query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap();
    let mut text = String::new();
    for t in tables {
        let name: String = t.get(0);
        let sql = format!("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \"{name}\" t");
        text.push_str(
            &client
                .query_one(&sql, &[])
                .await
                .unwrap()
                .get::<_, String>(0),
        );
    }
    text
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn an_ephemeral_post_reaches_live_streams_only_and_is_never_stored() {
    // Arrange: bob has one stored message and a live stream past it.
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let mut live = app.open_stream(&bob, "bob", None).await;
    assert_eq!(app.send("bob", "stored-one").await.status(), 201);
    assert_eq!(next_message(&mut live).await["seq"], 1);

    // Act: an ephemeral post, then a stored one.
    let id = random_id();
    let res = post_ephemeral(&app, "bob", &id, "typing-marker-7f3a").await;
    assert_eq!(res.status(), 202);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"accepted": true})
    );
    assert_eq!(app.send("bob", "stored-two").await.status(), 201);

    // Assert: the live stream gets it as `event: ephemeral` without a seq
    // and without moving Last-Event-ID, then the next stored seq, gap-free.
    let ev = next_event(&mut live).await;
    assert_eq!(ev.event, "ephemeral");
    assert_eq!(ev.id, "1", "Last-Event-ID stays the last stored seq");
    let data: Value = serde_json::from_str(&ev.data).unwrap();
    assert_eq!(
        data,
        json!({"id": id, "envelope": {"v": 2, "ct": "typing-marker-7f3a"}})
    );
    assert_eq!(next_message(&mut live).await["seq"], 2);

    // A stream opened afterwards replays the stored ones only.
    let mut later = app.open_stream(&bob, "bob", None).await;
    assert_eq!(app.send("bob", "stored-three").await.status(), 201);
    for seq in 1..=3 {
        let ev = next_event(&mut later).await;
        assert_eq!(
            (ev.event.as_str(), ev.id.as_str()),
            ("message", &*seq.to_string())
        );
    }
    // Polling never returns it.
    let page = app.poll(&bob, "bob", 0).await;
    let ids: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(!ids.contains(&id.as_str()));
    assert_eq!(page["newest"], 3);
    // Not a byte of it in the database, while the stored ones are there.
    let bytes = db_bytes(&app).await;
    assert!(
        contains(&bytes, "stored-three"),
        "control: stored bytes are found"
    );
    assert!(!contains(&bytes, "typing-marker-7f3a"));
    assert!(!contains(&bytes, &id));
}

#[tokio::test]
async fn the_answer_is_the_same_whether_anyone_listens() {
    let app = spawn_app().await;
    app.user("bob").await;
    let res = post_ephemeral(&app, "bob", &random_id(), "nobody-listens").await;
    assert_eq!(res.status(), 202);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"accepted": true})
    );
    assert!(!contains(&db_bytes(&app).await, "nobody-listens"));
}

#[tokio::test]
async fn bad_ephemeral_posts_get_stable_codes() {
    let app = spawn_app().await;
    app.user("bob").await;
    let id = random_id();
    // The query without the body flag, and the reverse.
    let stored_shape = message_body("bob", &id, "x");
    let res = app
        .post_json("/v1/messages?ephemeral=true", &stored_shape)
        .await;
    assert_error(res, 422, "invalid_body").await;
    let res = app
        .post_json("/v1/messages", &ephemeral_body("bob", &id, "x"))
        .await;
    assert_error(res, 422, "invalid_body").await;
    // Over 8 KiB of envelope.
    let big = "a".repeat(8 * 1024);
    assert_error(
        post_ephemeral(&app, "bob", &id, &big).await,
        413,
        "payload_too_large",
    )
    .await;
    // A declared body over 9 KiB is refused before it is read.
    let huge = serde_json::to_vec(&ephemeral_body("bob", &id, &"b".repeat(20_000))).unwrap();
    let res = app
        .post_raw("/v1/messages?ephemeral=true", "application/json", huge)
        .await;
    assert_error(res, 413, "payload_too_large").await;
    assert_error(
        post_ephemeral(&app, "nobody", &id, "x").await,
        404,
        "unknown_recipient",
    )
    .await;
    assert_error(
        post_ephemeral(&app, "bob", "short", "x").await,
        422,
        "invalid_message_id",
    )
    .await;
    assert_error(
        post_ephemeral(&app, "bob@other.example", &id, "x").await,
        422,
        "foreign_recipient",
    )
    .await;
}

#[tokio::test]
async fn ephemeral_posts_have_their_own_bucket() {
    let app = spawn_app_with(|c| {
        c.message_rate_per_minute = 1;
        c.ephemeral_rate_per_minute = 2;
    })
    .await;
    app.user("bob").await;
    for _ in 0..2 {
        let res = post_ephemeral(&app, "bob", &random_id(), "t").await;
        assert_eq!(res.status(), 202);
    }
    let res = post_ephemeral(&app, "bob", &random_id(), "t").await;
    assert!(header(&res, "retry-after").parse::<u64>().unwrap() >= 1);
    assert_error(res, 429, "rate_limited").await;
    // The texts' bucket is untouched.
    assert_eq!(app.send("bob", "text").await.status(), 201);
}

#[test]
fn the_default_ephemeral_budget() {
    let c = kez_chat_server::config::Config::defaults();
    assert_eq!(c.ephemeral_rate_per_minute, 600);
}

#[tokio::test]
async fn an_ephemeral_post_crosses_instances_over_nats() {
    let Some(nats) = crate::nats::start_nats().await else {
        return;
    };
    let (a, b, mut stream) = crate::nats::two_instances_streaming_bob(&nats).await;
    let id = random_id();
    let res = post_ephemeral(&a, "bob", &id, "across-marker").await;
    assert_eq!(res.status(), 202);
    let ev = next_event(&mut stream).await;
    assert_eq!(ev.event, "ephemeral");
    let data: Value = serde_json::from_str(&ev.data).unwrap();
    assert_eq!(
        (data["id"].as_str(), data["envelope"]["ct"].as_str()),
        (Some(&*id), Some("across-marker"))
    );
    // Neither instance stored it (they share the database).
    assert!(!contains(&db_bytes(&b).await, "across-marker"));
}

#[tokio::test]
async fn a_chunked_ephemeral_body_is_cut_at_its_own_bound_not_the_routes() {
    let app = spawn_app().await;
    app.user("bob").await;
    // 20 KiB of non-JSON with no Content-Length: read whole (up to the route's
    // 320 KiB) it would be refused as `invalid_json`; cut at 9 KiB it is 413.
    let chunks = (0..20).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1024]));
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let res = app
        .client
        .post(app.url("/v1/messages?ephemeral=true"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "payload_too_large").await;
    // The same body as a stored post is read (and refused for what it is).
    let chunks = (0..20).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1024]));
    let res = app
        .client
        .post(app.url("/v1/messages"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "invalid_json").await;
}
