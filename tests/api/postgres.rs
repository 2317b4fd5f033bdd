//! What only the PostgreSQL store has (SPEC §11.2): TLS to the database
//! checked against a CA, the password from a file, an outage answered with
//! `503 database_unavailable` and recovered from by itself. Against the
//! real test cluster (`helpers/postgres.rs`), in both passes.

use crate::helpers::postgres::{self, PASSWORD};
use crate::helpers::*;

/// A server on `url` (and `tweak`), or its start-up error. Its temp dir
/// (the sender key ring) lives as long as the test process: the tests here
/// stop their servers before they end.
async fn start_on(
    url: &str,
    tweak: impl FnOnce(&mut kez_chat_server::config::Config),
) -> anyhow::Result<kez_chat_server::server::RunningServer> {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    let mut config = test_config(dir);
    // Each server its own ring file in the shared dir.
    config.db = dir.path().join(format!("{}.db", random_id()));
    config.database_url = Some(url.parse().unwrap());
    tweak(&mut config);
    kez_chat_server::server::start(config).await
}

/// A running server on `url` with the test cluster's CA, and its client.
async fn serve(
    url: &str,
    tweak: impl FnOnce(&mut kez_chat_server::config::Config),
) -> (kez_chat_server::server::RunningServer, Api) {
    let server = start_on(url, |c| {
        c.database_ca_file = postgres::ca_file();
        tweak(c);
    })
    .await
    .expect("the server starts");
    let api = Api::new(format!("http://{}", server.addr));
    (server, api)
}

/// The database's name in a URL of `fresh_database_url`.
fn db_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap().split('?').next().unwrap()
}

#[tokio::test]
async fn tls_to_the_database_is_checked_against_the_ca_given() {
    let Some(url) = postgres::fresh_database_url().await else {
        return;
    };
    // Without the CA the cluster's certificate is refused (not a system
    // root), and the server does not start on an unchecked connection.
    let refused = start_on(&url, |c| c.database_ca_file = None).await;
    let err = format!("{:#}", refused.err().expect("no CA: refused"));
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
    assert!(err.contains("certificate"), "the cause is: {err}");
    // A CA file that holds no certificate is refused by name.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let bad = start_on(&url, |c| c.database_ca_file = Some(empty.clone())).await;
    let err = format!("{:#}", bad.err().expect("an empty CA file: refused"));
    assert!(err.contains("holds no certificate"), "{err}");
    // With it, the server runs over TLS, and the cluster says so.
    let ok = start_on(&url, |c| c.database_ca_file = postgres::ca_file())
        .await
        .expect("starts with the CA");
    let api = Api::new(format!("http://{}", ok.addr));
    assert_eq!(api.get("/v1/healthz").await.status(), 200);
    let db = db_name(&url);
    let tls: i64 = postgres::admin("postgres")
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE datname = $1 AND application_name = 'kez-chat-server' AND ssl",
            &[&db],
        )
        .await
        .unwrap()
        .get(0);
    assert!(tls >= 1, "the server's connections use TLS");
    ok.shutdown().await;
}

#[tokio::test]
async fn the_password_comes_from_its_file_and_a_wrong_one_is_refused() {
    let Some(url) = postgres::password_database_url().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let (right, wrong) = (file("pw", &format!("{PASSWORD}\n")), file("bad", "nope"));
    let ca = postgres::ca_file();
    let wrong_start = start_on(&url, |c| {
        c.database_ca_file = ca.clone();
        c.database_password_file = Some(wrong);
    })
    .await;
    let err = format!(
        "{:#}",
        wrong_start.err().expect("a wrong password: refused")
    );
    assert!(!err.contains("nope"), "the password is never shown: {err}");
    assert!(
        err.contains("password authentication failed"),
        "the cause is: {err}"
    );
    let server = start_on(&url, |c| {
        c.database_ca_file = ca.clone();
        c.database_password_file = Some(right);
    })
    .await
    .expect("starts with the password from its file");
    let api = Api::new(format!("http://{}", server.addr));
    assert_eq!(api.get("/v1/healthz").await.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_database_answers_503_and_the_server_recovers() {
    let Some(url) = postgres::fresh_database_url().await else {
        return;
    };
    let (server, app) = serve(&url, |_| {}).await;
    app.user("bob").await;
    let db = db_name(&url);
    let admin = postgres::admin("postgres").await;

    // Act: the database stops taking connections and drops the server's.
    admin
        .batch_execute(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&db],
        )
        .await
        .unwrap();
    let body = message_body("bob", &random_id(), "during the outage");
    // Assert: a clear, retryable answer, not a 500.
    let res = app.post_json("/v1/messages", &body).await;
    assert_error(res, 503, "database_unavailable").await;

    // And back: the same post goes through once the database is (a
    // connection the pool still held from before may cost one more 503).
    admin
        .batch_execute(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let status = app.post_json("/v1/messages", &body).await.status().as_u16();
        statuses.push(status);
        if status != 503 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&201), "{statuses:?}");
    server.shutdown().await;
}

/// A stalled instance (here: a session that locked bob's mailbox and went
/// quiet) holds up posts to that mailbox for the lock timeout only: they
/// answer 503, posts to other mailboxes go on, and once the lock goes,
/// bob's do too. Before, they hung until the request timeout, and a few
/// filled the pool for every mailbox.
#[tokio::test]
async fn a_mailbox_locked_by_a_stalled_instance_answers_503_not_a_hang() {
    let Some(url) = postgres::fresh_database_url().await else {
        return;
    };
    let (server, app) = serve(&url, |c| c.database_pool = 2).await;
    app.user("bob").await;
    app.user("alice").await;
    let db = db_name(&url);
    let mut stalled = postgres::admin(db).await;
    let tx = stalled.transaction().await.unwrap();
    tx.execute(
        "SELECT 1 FROM mailboxes WHERE handle = 'bob' FOR UPDATE",
        &[],
    )
    .await
    .unwrap();

    // Act: two posts to bob wait on the lock (the whole pool), then one to alice.
    let to_bob = async || {
        let body = message_body("bob", &random_id(), "b");
        app.post_json("/v1/messages", &body).await
    };
    let started = std::time::Instant::now();
    let (first, second) = tokio::join!(to_bob(), to_bob());
    let waited = started.elapsed();
    let to_alice = app
        .post_json("/v1/messages", &message_body("alice", &random_id(), "a"))
        .await;

    // Assert
    assert_error(first, 503, "database_unavailable").await;
    assert_error(second, 503, "database_unavailable").await;
    assert!(waited.as_secs() < 15, "waited {waited:?}");
    assert_eq!(to_alice.status(), 201);
    tx.rollback().await.unwrap();
    assert_eq!(to_bob().await.status(), 201);
    server.shutdown().await;
}

/// Instances started at the same moment on an empty database migrate it
/// once between them and all start (the one that waited for the lock used
/// to begin its transaction before it, miss the schema table the first one
/// made, and exit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_on_an_empty_database_all_start() {
    let Some(url) = postgres::fresh_database_url().await else {
        return;
    };
    let starts = (0..4).map(|_| start_on(&url, |c| c.database_ca_file = postgres::ca_file()));
    let started = futures_util::future::join_all(starts).await;
    for server in started {
        server.expect("every instance starts").shutdown().await;
    }
    let db = db_name(&url);
    let version: i32 = postgres::admin(db)
        .await
        .query_one("SELECT version FROM kez_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert!(version >= 3);
}
