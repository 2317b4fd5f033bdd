//! Sender tags keyed outside the database (SPEC §7.5, TODO #212): a copy of
//! the database does not give back who posted, and the per-sender share
//! holds across a key rotation. (Across a restart and replicas:
//! `mailbox::a_senders_share_survives_a_restart_and_is_shared_by_replicas`.)

use kez_chat_server::server;
use sha2::{Digest, Sha256};

use crate::helpers::*;
use crate::mailbox::send_from;

/// `h:` + hex of the first 6 bytes of SHA-256 over `parts`, concatenated:
/// the tag shape of the old salted design.
fn sha_tag(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for p in parts {
        hash.update(p);
    }
    format!("h:{}", hex::encode(&hash.finalize()[..6]))
}

/// Today's epoch (unix day), as the ring counts them.
fn today() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(86_400)
}

#[tokio::test]
async fn the_database_alone_does_not_give_back_a_senders_network() {
    if skip_on_postgres("reads the SQLite file with rusqlite") {
        return;
    }
    // Arrange: a message posted from 127.0.0.1 (the socket's address).
    let mut app = spawn_app().await;
    app.user("bob").await;
    assert_eq!(app.send("bob", "hello").await.status(), 201);
    let network = kez_chat_server::rate_limit::network_key("127.0.0.1".parse().unwrap());
    let network = network.to_string();
    assert_eq!(network, "127.0.0.1");

    // Act: the server stops; only the database file is read.
    app.server.take().expect("running").shutdown().await;
    let conn = rusqlite::Connection::open(&app.config.db).unwrap();
    let tags: Vec<String> = conn
        .prepare("SELECT DISTINCT sender FROM messages")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let meta: Vec<Vec<u8>> = conn
        .prepare("SELECT CAST(value AS BLOB) FROM meta")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();

    // Assert: a tag is stored, but no salt in the file makes it, nor does
    // the network alone.
    let [tag] = tags.as_slice() else {
        panic!("one sender tag expected: {tags:?}")
    };
    assert!(tag.starts_with("h:") && tag.len() == 14, "{tag}");
    for value in meta.iter().filter(|v| v.len() >= 16) {
        assert_ne!(
            &sha_tag(&[value, network.as_bytes()]),
            tag,
            "the database's own salt gives the sender back"
        );
    }
    assert_ne!(&sha_tag(&[network.as_bytes()]), tag);
}

#[tokio::test]
async fn a_senders_share_holds_across_a_key_rotation() {
    // Arrange: a ring holding only yesterday's key, and a server whose
    // clock says it is yesterday: a sender at its 25 % of 8 messages,
    // stored under yesterday's key.
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir);
    config.mailbox_max_messages = 8;
    config.trust_proxy = true;
    config.sender_key_day_offset = -1;
    let key = "Zm9yLXRoZS1zaGFyZS1hY3Jvc3MtYS1yb3RhdGlvbiE";
    let yesterday = today() - 1;
    let ring = format!(r#"{{"v":1,"keys":[{{"epoch":{yesterday},"key":"{key}"}}]}}"#);
    std::fs::write(config.sender_key_file(), ring).unwrap();
    let mut app = spawn_app_with(|c| *c = config).await;
    app.user("bob").await;
    assert_eq!(app.state().sender_keys.ring().epochs(), [yesterday]);
    for _ in 0..2 {
        assert_eq!(send_from(&app, "bob", "203.0.113.7").await.status(), 201);
    }

    // Act: the server restarts on today's clock, where the ring has no key.
    app.config.sender_key_day_offset = 0;
    app.restart().await;

    // Assert: today's key was added (yesterday's kept, written to the
    // file), and the sender is still at its share.
    let epochs = app.state().sender_keys.ring().epochs();
    assert_eq!(epochs, [yesterday, yesterday + 1]);
    let on_disk = std::fs::read_to_string(app.config.sender_key_file()).unwrap();
    assert!(on_disk.contains(key), "{on_disk}");
    let res = send_from(&app, "bob", "203.0.113.7").await;
    assert_error(res, 507, "mailbox_full").await;
    assert_eq!(send_from(&app, "bob", "203.0.113.8").await.status(), 201);
}

#[tokio::test]
async fn a_malformed_ring_stops_the_start_and_the_configured_path_is_used() {
    // Arrange: --sender-key-file elsewhere than beside the database, malformed.
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir);
    let ring = dir.path().join("ring.json");
    config.sender_key_file = Some(ring.clone());
    std::fs::write(&ring, r#"{"v":1,"keys":[{"epoch":1,"key":"short"}]}"#).unwrap();

    // Act + Assert: refused, naming the file; once it is gone, a fresh
    // ring is made there and none beside the database.
    let Err(err) = server::start(config.clone()).await else {
        panic!("started on a malformed ring")
    };
    let text = format!("{err:#}");
    assert!(
        text.contains("ring.json") && text.contains("malformed"),
        "{text}"
    );
    std::fs::remove_file(&ring).unwrap();
    let running = server::start(config).await.expect("starts on a new ring");
    assert_eq!(running.state.sender_keys.ring().epochs(), [today()]);
    assert!(ring.exists());
    assert!(!dir.path().join("kez.db.sender-keys").exists());
    running.shutdown().await;
}
