//! Sigchains (SPEC §15) over real HTTP: `POST` and `GET
//! /v1/sigchains/ed25519/{hex}`, the `sigchain_url` of lookups, a restart.

mod appends;
mod errors;
mod proof_bounds;
mod proof_metrics;
mod proofs;
mod recheck;
mod shapes;

use kez_chat_server::kez::sigchain::{LINK_TYPE, link_hash, sign_link};
use serde_json::{Value, json};

use crate::helpers::*;

/// `created_at` `offset` seconds from now, in the strict form.
pub fn stamp(offset: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The hex part of `id`'s primary (the path segment).
pub fn hex_of(id: &TestIdentity) -> String {
    id.primary()["ed25519:".len()..].to_owned()
}

/// An `add` body for a DNS claim on `host`.
pub fn add_dns(host: &str) -> Value {
    json!({"op": "add", "claim": {"service": "dns", "name": host, "proof": format!("dns:_kez.{host}")}})
}

/// A link payload of `id`, created now.
pub fn payload(id: &TestIdentity, seq: u64, prev: Option<&str>, body: Value) -> Value {
    json!({"type": LINK_TYPE, "version": 1, "primary": id.primary(), "seq": seq,
           "prev": prev, "created_at": stamp(0), "body": body})
}

/// `payload`, signed.
pub fn link(id: &TestIdentity, seq: u64, prev: Option<&str>, body: Value) -> Value {
    sign_link(&id.sk, &payload(id, seq, prev, body))
}

impl Api {
    pub async fn post_link(&self, hex: &str, link: &Value) -> reqwest::Response {
        self.post_json(&format!("/v1/sigchains/ed25519/{hex}"), link)
            .await
    }

    pub async fn get_chain(&self, hex: &str, if_none_match: Option<&str>) -> reqwest::Response {
        let mut req = self
            .client
            .get(self.url(&format!("/v1/sigchains/ed25519/{hex}")));
        if let Some(tag) = if_none_match {
            req = req.header("if-none-match", tag);
        }
        req.send().await.unwrap()
    }

    /// Appends `body` to `id`'s chain at the position after `chain`'s
    /// head, asserting 201; returns the new head's hash.
    pub async fn append(
        &self,
        id: &TestIdentity,
        seq: u64,
        prev: Option<&str>,
        body: Value,
    ) -> String {
        let l = link(id, seq, prev, body);
        let res = self.post_link(&hex_of(id), &l).await;
        let status = res.status();
        let answer: Value = res.json().await.unwrap();
        assert_eq!(status, 201, "{answer}");
        assert_eq!(answer, json!({"seq": seq, "hash": link_hash(&l)}));
        link_hash(&l)
    }
}

#[tokio::test]
async fn links_are_stored_as_jcs_and_served_in_order() {
    // Arrange
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let hex = hex_of(&alice);
    let first = link(&alice, 1, None, add_dns("alice.example"));
    let pretty = serde_json::to_string_pretty(&first).unwrap();

    // Act
    let res = app
        .post_raw(
            &format!("/v1/sigchains/ed25519/{hex}"),
            "application/json",
            pretty.clone().into_bytes(),
        )
        .await;

    // Assert
    assert_eq!(res.status(), 201);
    assert_eq!(header(&res, "cache-control"), "no-store");
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer, json!({"seq": 1, "hash": link_hash(&first)}));
    let h2 = app
        .append(
            &alice,
            2,
            Some(&link_hash(&first)),
            json!({"op": "revoke", "link": link_hash(&first)}),
        )
        .await;
    let res = app.get_chain(&hex, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "application/json");
    assert_eq!(header(&res, "cache-control"), "no-cache");
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    assert_eq!(header(&res, "etag"), format!("\"2-{h2}\""));
    let text = res.text().await.unwrap();
    // Stored and served as its JCS (what its hash names), not as posted:
    // whitespace padding is neither kept nor served (review item 4).
    let jcs = String::from_utf8(kez_chat_server::kez::json::canonical_bytes(&first)).unwrap();
    assert!(text.contains(&jcs), "the first link is served as its JCS");
    assert!(!text.contains(&pretty));
    let chain: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(chain["primary"], alice.primary());
    let links = chain["links"].as_array().unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(links[0], first);
    assert_eq!(link_hash(&links[1]), h2);
}

#[tokio::test]
async fn a_chain_is_revalidated_by_its_etag() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let hex = hex_of(&alice);
    let res = app.get_chain(&hex, None).await;
    assert_eq!(res.status(), 200);
    let empty_tag = header(&res, "etag").to_owned();
    assert_eq!(empty_tag, "\"0\"");
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"primary": alice.primary(), "links": []})
    );

    let res = app.get_chain(&hex, Some(&empty_tag)).await;
    assert_eq!(res.status(), 304);
    assert_eq!(header(&res, "etag"), empty_tag);
    assert_eq!(header(&res, "access-control-allow-origin"), "*");

    app.append(&alice, 1, None, add_dns("alice.example")).await;
    let res = app.get_chain(&hex, Some(&empty_tag)).await;
    assert_eq!(res.status(), 200, "a grown chain is not the cached one");
    let tag = header(&res, "etag").to_owned();
    assert_eq!(
        app.get_chain(&hex, Some(&format!("W/{tag}")))
            .await
            .status(),
        304
    );
}

#[tokio::test]
async fn racing_appends_of_one_seq_store_exactly_one() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let hex = hex_of(&alice);
    for round in 0..5u64 {
        // Arrange: two different links for the same next position.
        let chain: Value = app.get_chain(&hex, None).await.json().await.unwrap();
        let prev = chain["links"].as_array().unwrap().last().map(link_hash);
        let seq = round + 1;
        let a = link(
            &alice,
            seq,
            prev.as_deref(),
            add_dns(&format!("a{round}.example")),
        );
        let b = link(
            &alice,
            seq,
            prev.as_deref(),
            add_dns(&format!("b{round}.example")),
        );

        // Act
        let (ra, rb) = tokio::join!(app.post_link(&hex, &a), app.post_link(&hex, &b));

        // Assert
        let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}");
        let loser = if ra.status() == 409 { ra } else { rb };
        assert_eq!(
            loser.json::<Value>().await.unwrap()["error"],
            "chain_conflict"
        );
        let chain: Value = app.get_chain(&hex, None).await.json().await.unwrap();
        assert_eq!(
            chain["links"].as_array().unwrap().len(),
            usize::try_from(seq).unwrap()
        );
    }
}

#[tokio::test]
async fn a_chain_holds_at_most_256_links() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let mut head: Option<String> = None;
    let mut seq = 0;
    // Add and revoke in turn: at most one claim is active.
    while seq < 256 {
        seq += 1;
        let body = match &head {
            Some(h) if seq % 2 == 0 => json!({"op": "revoke", "link": h}),
            _ => add_dns(&format!("h{seq}.example")),
        };
        head = Some(app.append(&alice, seq, head.as_deref(), body).await);
    }
    let res = app
        .post_link(
            &hex_of(&alice),
            &link(&alice, 257, head.as_deref(), add_dns("last.example")),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "chain_full");
}

#[tokio::test]
async fn unknown_and_malformed_keys() {
    let app = spawn_app().await;
    let stranger = TestIdentity::generate();
    let res = app.get_chain(&hex_of(&stranger), None).await;
    assert_eq!(res.status(), 404);
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "not_found");
    let res = app
        .post_link(
            &hex_of(&stranger),
            &link(&stranger, 1, None, add_dns("s.example")),
        )
        .await;
    assert_eq!(res.status(), 404);
    for bad in ["zz", &"AB".repeat(32), &"00".repeat(32)] {
        let res = app.get_chain(bad, None).await;
        assert_eq!(res.status(), 400, "{bad}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_key");
    }
}

#[tokio::test]
async fn lookups_point_at_this_server_unless_a_sig_server_is_set() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let own = format!("https://{SERVER}/v1/sigchains/ed25519/{}", hex_of(&alice));
    let record: Value = app.get("/v1/u/alice").await.json().await.unwrap();
    assert_eq!(record["sigchain_url"], own);
    let jrd: Value = app
        .get(&format!(
            "/.well-known/webfinger?resource=acct:alice@{SERVER}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jrd["links"][1]["href"], own);

    let app = spawn_app_with(|c| c.sig_server_url = Some("https://sig.example/".into())).await;
    let bob = app.user("bob").await;
    let other = format!("https://sig.example/v1/sigchains/ed25519/{}", hex_of(&bob));
    let record: Value = app.get("/v1/u/bob").await.json().await.unwrap();
    assert_eq!(record["sigchain_url"], other);
    let jrd: Value = app
        .get(&format!(
            "/.well-known/webfinger?resource=acct:bob@{SERVER}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jrd["links"][1]["href"], other);
    // The page reads chains there, so the CSP lets it.
    let res = app.get("/").await;
    let csp = header(&res, "content-security-policy");
    assert!(
        csp.contains("connect-src 'self' https://sig.example;"),
        "{csp}"
    );
}

#[tokio::test]
async fn a_link_survives_a_restart() {
    let mut app = spawn_app().await;
    let alice = app.user("alice").await;
    let h1 = app.append(&alice, 1, None, add_dns("alice.example")).await;

    app.restart().await;

    let chain: Value = app
        .get_chain(&hex_of(&alice), None)
        .await
        .json()
        .await
        .unwrap();
    let links = chain["links"].as_array().unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(link_hash(&links[0]), h1);
    // And the chain goes on from it.
    app.append(&alice, 2, Some(&h1), add_dns("two.example"))
        .await;
}
