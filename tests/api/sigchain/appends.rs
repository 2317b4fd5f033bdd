//! Appends beyond the happy path (review items 6, 7): a retried link, and a
//! server whose chains an external sigchain service keeps.

use kez_chat_server::kez::sigchain::link_hash;
use serde_json::{Value, json};

use super::{add_dns, hex_of, link};
use crate::helpers::*;

#[tokio::test]
async fn a_retried_link_is_answered_200_and_stored_once() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let hex = hex_of(&alice);
    let first = link(&alice, 1, None, add_dns("alice.example"));
    let h1 = link_hash(&first);
    assert_eq!(app.post_link(&hex, &first).await.status(), 201);
    let second = link(&alice, 2, Some(&h1), json!({"op": "revoke", "link": h1}));
    assert_eq!(app.post_link(&hex, &second).await.status(), 201);

    // The same links again, as a client that lost the answers would send them.
    for (seq, l) in [(1, &first), (2, &second)] {
        let res = app.post_link(&hex, l).await;
        assert_eq!(res.status(), 200, "seq {seq}");
        assert_eq!(header(&res, "cache-control"), "no-store");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer, json!({"seq": seq, "hash": link_hash(l)}));
    }
    // Another link at a taken seq is still a conflict.
    let rival = link(&alice, 2, Some(&h1), add_dns("two.example"));
    let res = app.post_link(&hex, &rival).await;
    assert_eq!(res.status(), 409);
    let chain: Value = app.get_chain(&hex, None).await.json().await.unwrap();
    assert_eq!(chain["links"], json!([first, second]));
}

#[tokio::test]
async fn with_an_external_sig_server_this_server_keeps_no_chains() {
    let app = spawn_app_with(|c| c.sig_server_url = Some("https://sig.example/".into())).await;
    let bob = app.user("bob").await;
    let hex = hex_of(&bob);
    let res = app
        .post_link(&hex, &link(&bob, 1, None, add_dns("bob.example")))
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    let res = app.get_chain(&hex, None).await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}
