//! WebFinger (RFC 7033).

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn webfinger_describes_a_registered_handle() {
    let app = spawn_app().await;
    let alice = TestIdentity::generate();
    let record = app.register(&alice, "alice").await;
    let res = app
        .get(&format!(
            "/.well-known/webfinger?resource=acct:alice@{SERVER}"
        ))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/jrd+json");
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let jrd: Value = res.json().await.unwrap();
    assert_eq!(jrd["subject"], format!("acct:alice@{SERVER}"));
    assert_eq!(jrd["aliases"][0], alice.primary());
    assert_eq!(
        jrd["properties"]["https://kez.lat/ns/primary"],
        alice.primary()
    );
    let links = jrd["links"].as_array().unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(links[0]["rel"], "self");
    assert_eq!(links[0]["href"], format!("https://{SERVER}/v1/u/alice"));
    assert_eq!(links[1]["href"], record["sigchain_url"]);
}

#[tokio::test]
async fn webfinger_accepts_percent_encoding_and_filters_by_rel() {
    let app = spawn_app().await;
    app.user("alice").await;
    let res = app
        .get(&format!("/.well-known/webfinger?resource=acct%3Aalice%40{SERVER}&rel=https%3A%2F%2Fkez.lat%2Fns%2Fsigchain"))
        .await;
    let jrd: Value = res.json().await.unwrap();
    let links = jrd["links"].as_array().unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["rel"], "https://kez.lat/ns/sigchain");
}

#[tokio::test]
async fn webfinger_head_matches_get_without_a_body() {
    let app = spawn_app().await;
    app.user("alice").await;
    let path = format!("/.well-known/webfinger?resource=acct:alice@{SERVER}");
    let res = app.request(reqwest::Method::HEAD, &path).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/jrd+json");
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(res.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn webfinger_errors() {
    let app = spawn_app().await;
    for bad in [
        "",
        "?resource=alice",
        "?resource=acct:@kez.test",
        "?resource=acct:alice",
        "?resource=:x",
        "?resource=1http:x",
    ] {
        let res = app.get(&format!("/.well-known/webfinger{bad}")).await;
        assert_error(res, 400, "invalid_resource").await;
    }
    app.user("alice").await;
    // Well-formed URIs that are not an account here: 404, not 400 (RFC 7033 §4.2).
    for elsewhere in [
        format!("acct:nobody@{SERVER}"),
        "acct:alice@other.example".to_owned(),
        "https://other.example/alice".to_owned(),
        format!("mailto:alice@{SERVER}"),
        format!("https://{SERVER}/v1/u/alice"),
    ] {
        let res = app
            .get(&format!("/.well-known/webfinger?resource={elsewhere}"))
            .await;
        assert_error(res, 404, "not_found").await;
    }
}

#[tokio::test]
async fn webfinger_acct_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    app.user("alice").await;
    for scheme in ["ACCT", "Acct", "aCcT"] {
        let res = app
            .get(&format!(
                "/.well-known/webfinger?resource={scheme}:alice@{SERVER}"
            ))
            .await;
        assert_eq!(res.status(), 200, "{scheme}");
        let jrd: Value = res.json().await.unwrap();
        assert_eq!(jrd["subject"], format!("acct:alice@{SERVER}"));
    }
}

/// RFC 7033 §5: every answer, errors of every kind included.
#[tokio::test]
async fn webfinger_every_answer_allows_any_origin() {
    let app = spawn_app().await;
    app.user("alice").await;
    let path = "/.well-known/webfinger";
    let answers = [
        app.get(&format!("{path}?resource=acct:alice@{SERVER}"))
            .await,
        app.get(path).await,
        app.get(&format!("{path}?resource=acct:bob@{SERVER}")).await,
        app.get(&format!("{path}?resource=https://example.com/"))
            .await,
        app.request(reqwest::Method::POST, path).await,
        app.request(reqwest::Method::OPTIONS, path).await,
        app.request(reqwest::Method::HEAD, path).await,
    ];
    for res in answers {
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            "*",
            "{} {}",
            res.status(),
            res.url()
        );
    }
}

/// A key registered under the old, laxer rule (mixed-order: speccheck-3 in
/// tests/vectors/ed25519-edge-cases.json) and a row no parser accepts are in
/// the database: lookups, WebFinger and the nostr listener's handle list
/// still answer, and the unreadable row alone is left out.
#[tokio::test]
async fn stored_rows_the_current_rules_refuse_do_not_break_lookups() {
    if skip_on_postgres("writes rows into the SQLite file with rusqlite") {
        return;
    }
    // Arrange: alice registered normally; "old" and "broken" written directly.
    let mut app = spawn_app().await;
    let alice = app.user("alice").await;
    let weak = "ed25519:cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d";
    let conn = rusqlite::Connection::open(&app.config.db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    for (handle, key) in [("old", weak), ("broken", "ed25519:00")] {
        conn.execute(
            "INSERT INTO handles (handle, primary_key, registered_at, envelope) \
             VALUES (?1, ?2, 1700000000, '{}')",
            [handle, key],
        )
        .unwrap();
    }
    drop(conn);
    app.restart().await;

    // Act + Assert: the old key is looked up as stored.
    let res = app.get("/v1/u/old").await;
    assert_eq!(res.status(), 200);
    let record: Value = res.json().await.unwrap();
    assert_eq!(record["primary"], weak);
    let res = app
        .get(&format!(
            "/.well-known/webfinger?resource=acct:old@{SERVER}"
        ))
        .await;
    assert_eq!(res.status(), 200);
    let jrd: Value = res.json().await.unwrap();
    assert_eq!(jrd["aliases"][0], weak);
    // The unreadable row is not found, not a 500.
    assert_error(app.get("/v1/u/broken").await, 404, "not_found").await;
    let res = app
        .get(&format!(
            "/.well-known/webfinger?resource=acct:broken@{SERVER}"
        ))
        .await;
    assert_eq!(res.status(), 404);
    // The listener's handle list skips only the unreadable row.
    let rows = app.state().store.all_primaries().await.unwrap();
    let listed: Vec<String> = rows.iter().map(|(h, k)| format!("{h} {k}")).collect();
    assert_eq!(
        listed,
        [format!("alice {}", alice.primary()), format!("old {weak}")]
    );
}
