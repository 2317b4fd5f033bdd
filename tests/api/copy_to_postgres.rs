//! `--copy-to-postgres` (SPEC §11.2): a deployment on SQLite moves to
//! PostgreSQL with everything its users had: handles, stored messages with
//! their seqs, profiles, sigchains, push subscriptions and the VAPID key
//! their browsers trust. Runs the real binary for the copy.

use serde_json::{Value, json};

use crate::helpers::postgres;
use crate::helpers::*;
use crate::sigchain::{add_dns, hex_of};

#[tokio::test]
async fn a_sqlite_deployment_moves_to_postgres_with_everything_its_users_had() {
    let Some(url) = postgres::fresh_database_url().await else {
        return;
    };
    // Arrange: a SQLite server (whatever the pass) with a bit of everything.
    let dir = tempfile::tempdir().unwrap();
    let old = kez_chat_server::server::start(test_config(&dir))
        .await
        .unwrap();
    let before = Api::new(format!("http://{}", old.addr));
    let bob = before.user("bob").await;
    let alice = before.user("alice").await;
    for text in ["one", "two", "three"] {
        assert_eq!(before.send("bob", text).await.status(), 201);
    }
    let doc = crate::profile::document(&alice, "alice", chrono::Utc::now().timestamp());
    assert!(before.put_profile(&doc).await.status().is_success());
    before.append(&alice, 1, None, add_dns("example.com")).await;
    let key = |api: &Api| {
        let api = api.clone();
        async move {
            let res = api.get("/v1/push/vapid-public-key").await;
            res.json::<Value>().await.unwrap()
        }
    };
    let vapid = key(&before).await;
    let inbox = before.poll(&bob, "bob", 0).await;
    let profile = before.get("/v1/u/alice/profile").await;
    let etag = profile.headers()["etag"].clone();
    let chain: Value = before
        .get_chain(&hex_of(&alice), None)
        .await
        .json()
        .await
        .unwrap();
    let ca = postgres::ca_file().unwrap();
    let run = |url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kez-chat-server"))
            .arg("--db")
            .arg(&test_config(&dir).db)
            .args(["--database-url", url, "--copy-to-postgres"])
            .arg("--database-ca-file")
            .arg(&ca)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    // While the server runs, the copy is refused (its later posts would be lost).
    let early = run(&url);
    assert!(!early.status.success());
    assert!(String::from_utf8_lossy(&early.stderr).contains("a server is running"));
    old.shutdown().await;
    // The two tables no request here fills, written as the server would.
    let sqlite = rusqlite::Connection::open(test_config(&dir).db).unwrap();
    sqlite
        .execute_batch(
            "INSERT INTO push_subscriptions (handle, endpoint, p256dh, auth, created_at, updated_ms)
                 VALUES ('bob', 'https://push.example/x', 'p', 'a', 1, 1000);
             INSERT INTO nostr_seen (id, seen_at) VALUES (zeroblob(32), 7);",
        )
        .unwrap();
    drop(sqlite);

    // Act: the copy, with the binary as an operator runs it.
    let copied = run(&url);
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    // A second copy into the same (now full) database is refused.
    let again = run(&url);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("copy into an empty one"));

    // Assert: a server on PostgreSQL serves all of it.
    let new_dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&new_dir);
    config.database_url = Some(url.parse().unwrap());
    config.database_ca_file = Some(ca);
    let new = kez_chat_server::server::start(config).await.unwrap();
    let after = Api::new(format!("http://{}", new.addr));
    assert_eq!(
        after.poll(&bob, "bob", 0).await["messages"],
        inbox["messages"]
    );
    assert_eq!(
        key(&after).await,
        vapid,
        "browsers' subscriptions stay valid"
    );
    let res = after.get("/v1/u/alice/profile").await;
    assert_eq!(res.headers()["etag"], etag);
    let now: Value = after
        .get_chain(&hex_of(&alice), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now, chain);
    let looked_up: Value = after.get("/v1/u/bob").await.json().await.unwrap();
    assert_eq!(looked_up["primary"], json!(bob.primary()));
    let db = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let rows = postgres::admin(db)
        .await
        .query_one(
            "SELECT (SELECT endpoint FROM push_subscriptions WHERE handle = 'bob'),
                    (SELECT seen_at FROM nostr_seen WHERE id = decode(repeat('00', 32), 'hex')),
                    (SELECT sum(msg_count)::BIGINT FROM mailbox_senders WHERE recipient = 'bob')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.get::<_, String>(0), "https://push.example/x");
    assert_eq!(rows.get::<_, i64>(1), 7);
    assert_eq!(
        rows.get::<_, i64>(2),
        3,
        "the senders' counts follow the messages"
    );
    // New messages take seqs above any a client may have seen (the gap).
    let res = after.send("bob", "four").await;
    assert_eq!(res.status(), 201);
    let seq = res.json::<Value>().await.unwrap()["seq"].as_u64().unwrap();
    assert_eq!(seq, 3 + kez_chat_server::store::BACKUP_SEQ_GAP + 1);
    new.shutdown().await;
}
