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
    assert_error(
        app.get("/.well-known/webfinger").await,
        400,
        "invalid_resource",
    )
    .await;
    assert_error(
        app.get("/.well-known/webfinger?resource=alice").await,
        400,
        "invalid_resource",
    )
    .await;
    assert_error(
        app.get("/.well-known/webfinger?resource=acct:@kez.test")
            .await,
        400,
        "invalid_resource",
    )
    .await;
    assert_error(
        app.get(&format!(
            "/.well-known/webfinger?resource=acct:nobody@{SERVER}"
        ))
        .await,
        404,
        "not_found",
    )
    .await;
    app.user("alice").await;
    assert_error(
        app.get("/.well-known/webfinger?resource=acct:alice@other.example")
            .await,
        404,
        "not_found",
    )
    .await;
}
