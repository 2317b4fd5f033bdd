//! Profiles (SPEC §14.5) over real HTTP: `PUT /v1/profile` and the public
//! `GET /v1/u/{handle}/profile`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kez_chat_server::kez::Identity;
use kez_chat_server::kez::profile::{PNG_PREFIX, sign_profile};
use kez_chat_server::kez::visual;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::helpers::*;

/// A 1×1 PNG, the smallest picture that passes the checks.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn stamp(unix: i64) -> String {
    kez_chat_server::time::rfc3339(unix)
}

/// The payload of a scrambled-picture profile of `id` as `handle`, at `updated_at`.
fn payload(id: &TestIdentity, handle: &str, updated_at: i64) -> Value {
    let me = Identity::parse(&id.primary()).unwrap();
    let wrap = visual::wrap_key(&[9; 32], &me);
    json!({"type": "kez.chat.profile", "version": 1, "handle": handle, "server": SERVER,
           "primary": id.primary(), "display_name": "Alice Example",
           "picture": format!("{PNG_PREFIX}{PNG}#kez-visual-v1:{}", "ab".repeat(16)),
           "visual_keys": [wrap], "updated_at": stamp(updated_at)})
}

pub(crate) fn document(id: &TestIdentity, handle: &str, updated_at: i64) -> Value {
    sign_profile(&id.sk, &payload(id, handle, updated_at))
}

impl Api {
    async fn put_profile_bytes(&self, body: Vec<u8>) -> reqwest::Response {
        self.client
            .put(self.url("/v1/profile"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn put_profile(&self, doc: &Value) -> reqwest::Response {
        self.put_profile_bytes(serde_json::to_vec(doc).unwrap())
            .await
    }

    async fn get_profile(&self, handle: &str, if_none_match: Option<&str>) -> reqwest::Response {
        let mut req = self
            .client
            .get(self.url(&format!("/v1/u/{handle}/profile")));
        if let Some(tag) = if_none_match {
            req = req.header("if-none-match", tag);
        }
        req.send().await.unwrap()
    }
}

#[tokio::test]
async fn a_profile_is_stored_as_sent_and_served_publicly() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    // Pretty-printed: the server must keep these exact bytes.
    let body = serde_json::to_vec_pretty(&document(&alice, "alice", now())).unwrap();

    let res = app.put_profile_bytes(body.clone()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "no-store");
    let answer: Value = res.json().await.unwrap();
    let sent: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer, json!({"updated_at": sent["payload"]["updated_at"]}));

    let res = app.get_profile("alice", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "application/json");
    assert_eq!(header(&res, "cache-control"), "public, max-age=60");
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    let etag = header(&res, "etag").to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 45,
        "{etag}"
    );
    assert_eq!(res.bytes().await.unwrap().to_vec(), body);
}

#[tokio::test]
async fn the_etag_revalidates_until_the_profile_changes() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    assert_eq!(
        app.put_profile(&document(&alice, "alice", now() - 10))
            .await
            .status(),
        200
    );
    let etag = header(&app.get_profile("alice", None).await, "etag").to_owned();

    let res = app.get_profile("alice", Some(&etag)).await;
    assert_eq!(res.status(), 304);
    assert_eq!(header(&res, "etag"), etag);
    assert_eq!(header(&res, "cache-control"), "public, max-age=60");
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    assert!(res.bytes().await.unwrap().is_empty());
    let weak = format!("\"other\", W/{etag}");
    assert_eq!(app.get_profile("alice", Some(&weak)).await.status(), 304);

    assert_eq!(
        app.put_profile(&document(&alice, "alice", now()))
            .await
            .status(),
        200
    );
    let res = app.get_profile("alice", Some(&etag)).await;
    assert_eq!(res.status(), 200);
    assert_ne!(header(&res, "etag"), etag);
}

#[tokio::test]
async fn the_etag_is_computed_once_when_stored_not_on_every_get() {
    if skip_on_postgres("reads and marks the SQLite file with rusqlite") {
        return;
    }
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let body = serde_json::to_vec(&document(&alice, "alice", now())).unwrap();
    assert_eq!(app.put_profile_bytes(body.clone()).await.status(), 200);
    let served = header(&app.get_profile("alice", None).await, "etag").to_owned();
    let expected = format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&body))
    );
    assert_eq!(
        served, expected,
        "the ETag is the b64url SHA-256 of the bytes"
    );

    let db = rusqlite::Connection::open(&app.config.db).unwrap();
    let stored: String = db
        .query_row("SELECT etag FROM profiles", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, expected, "stored at PUT");
    // A GET serves the stored tag as is (no hashing per request): marking
    // the row shows up in the answer.
    db.execute("UPDATE profiles SET etag = '\"marked\"'", [])
        .unwrap();
    let res = app.get_profile("alice", None).await;
    assert_eq!(header(&res, "etag"), "\"marked\"");
    assert_eq!(res.bytes().await.unwrap().to_vec(), body);
    assert_eq!(
        app.get_profile("alice", Some("\"marked\"")).await.status(),
        304
    );
}

#[tokio::test]
async fn replayed_and_older_profiles_are_stale() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let first = document(&alice, "alice", now() - 60);
    assert_eq!(app.put_profile(&first).await.status(), 200);

    assert_error(app.put_profile(&first).await, 409, "stale_profile").await;
    let older = document(&alice, "alice", now() - 120);
    assert_error(app.put_profile(&older).await, 409, "stale_profile").await;
    let ancient = document(&alice, "alice", now() - 3600);
    assert_error(app.put_profile(&ancient).await, 422, "stale_timestamp").await;
    assert_eq!(
        app.put_profile(&document(&alice, "alice", now()))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn only_the_handles_key_may_publish_its_profile() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    // Alice's payload signed by Bob: the signature does not verify.
    let forged = sign_profile(&alice.sk, &payload(&alice, "alice", now()));
    let mut forged_sig = forged.clone();
    forged_sig["signature"]["sig"] = json!(bob.sign_hex(b"anything"));
    assert_error(app.put_profile(&forged_sig).await, 401, "invalid_signature").await;
    // Bob's key claiming to be Alice's primary.
    let mut mismatch = forged;
    mismatch["signature"]["key"] = json!(bob.primary());
    assert_error(app.put_profile(&mismatch).await, 422, "key_mismatch").await;
    // Bob's valid signature over a profile for the handle alice.
    let squat = document(&bob, "alice", now());
    assert_error(app.put_profile(&squat).await, 409, "wrong_primary").await;
    assert_error(app.get_profile("alice", None).await, 404, "not_found").await;
}

#[tokio::test]
async fn unknown_handles_have_no_profile() {
    let app = spawn_app().await;
    let carol = TestIdentity::generate();
    assert_error(
        app.put_profile(&document(&carol, "carol", now())).await,
        404,
        "not_found",
    )
    .await;
    for path in ["carol", "Not-A-Handle"] {
        let res = app.get_profile(path, None).await;
        assert_eq!(header(&res, "access-control-allow-origin"), "*");
        assert_eq!(header(&res, "cache-control"), "no-store");
        assert_error(res, 404, "not_found").await;
    }
    app.user("dave").await;
    assert_error(app.get_profile("dave", None).await, 404, "not_found").await;
}

#[tokio::test]
async fn bodies_over_256_kib_bad_pictures_and_too_many_wraps_are_refused() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let big = format!("{{\"kez\":\"{}\"}}", "a".repeat(256 * 1024));
    assert_error(
        app.put_profile_bytes(big.into_bytes()).await,
        413,
        "payload_too_large",
    )
    .await;

    let mut p = payload(&alice, "alice", now());
    p["picture"] = json!(format!(
        "data:image/svg+xml;base64,{}",
        STANDARD.encode("<svg/>")
    ));
    p["visual_keys"] = json!([]);
    let svg = sign_profile(&alice.sk, &p);
    assert_error(app.put_profile(&svg).await, 422, "invalid_picture").await;

    let mut p = payload(&alice, "alice", now());
    let wrap = p["visual_keys"][0].clone();
    p["visual_keys"] = Value::Array(vec![wrap; 1001]);
    let crowded = sign_profile(&alice.sk, &p);
    assert!(serde_json::to_vec(&crowded).unwrap().len() < 256 * 1024);
    assert_error(app.put_profile(&crowded).await, 422, "invalid_visual_keys").await;
    assert_error(app.get_profile("alice", None).await, 404, "not_found").await;
}

#[tokio::test]
async fn profile_updates_are_rate_limited_per_address() {
    let app = spawn_app_with(|c| c.profile_rate_per_minute = 2).await;
    let alice = app.user("alice").await;
    let doc = document(&alice, "alice", now());
    assert_eq!(app.put_profile(&doc).await.status(), 200);
    assert_error(app.put_profile(&doc).await, 409, "stale_profile").await;
    let res = app.put_profile(&doc).await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, 429, "rate_limited").await;
    // Reads are not limited.
    assert_eq!(app.get_profile("alice", None).await.status(), 200);
}

#[tokio::test]
async fn the_database_holds_only_the_opaque_document() {
    if skip_on_postgres("reads the SQLite file and its WAL") {
        return;
    }
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let body = serde_json::to_vec_pretty(&document(&alice, "alice", now())).unwrap();
    assert_eq!(app.put_profile_bytes(body.clone()).await.status(), 200);

    let db = rusqlite::Connection::open_with_flags(
        &app.config.db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let columns: Vec<String> = db
        .prepare("SELECT name FROM pragma_table_info('profiles') ORDER BY cid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(columns, ["handle", "document", "updated_at", "etag"]);
    let stored: String = db
        .query_row("SELECT document FROM profiles", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored.as_bytes(), body, "stored as sent");
    // No decoded picture anywhere in the files (main database and WAL).
    let png = STANDARD.decode(PNG).unwrap();
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", app.config.db.display());
        let Ok(file) = std::fs::read(&path) else {
            continue;
        };
        assert!(
            !file.windows(png.len()).any(|w| w == png),
            "{path} holds the picture"
        );
    }
}
