//! Silent posts (`POST /v1/messages?notify=false`: receipts, attachment
//! chunks) take their tokens from their own per-IP bucket (SPEC §7.5), so
//! reading a chat or receiving a file never uses up the texts' budget.

use crate::helpers::{assert_error, message_body, random_id, spawn_app_with};

#[tokio::test]
async fn silent_posts_have_their_own_bucket() {
    let app = spawn_app_with(|c| {
        c.message_rate_per_minute = 2;
        c.silent_rate_per_minute = 3;
    })
    .await;
    app.user("bob").await;
    for _ in 0..2 {
        assert_eq!(app.send("bob", "text").await.status(), 201);
    }
    assert_error(
        app.send("bob", "one text too many").await,
        429,
        "rate_limited",
    )
    .await;

    // The texts' bucket is empty; receipts still go, from their own.
    let silent = |text: &str| {
        let mut body = message_body("bob", &random_id(), text);
        body["notify"] = false.into();
        body
    };
    for _ in 0..3 {
        let res = app
            .post_json("/v1/messages?notify=false", &silent("ack"))
            .await;
        assert_eq!(res.status(), 201);
    }
    let res = app
        .post_json("/v1/messages?notify=false", &silent("ack"))
        .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 429, "rate_limited").await;
    // A body saying `notify: false` without the query is an ordinary post (older clients).
    assert_error(
        app.post_json("/v1/messages", &silent("ack")).await,
        429,
        "rate_limited",
    )
    .await;
}

#[test]
fn the_default_budgets_fit_people_behind_one_nat() {
    let c = kez_chat_server::config::Config::defaults();
    assert_eq!(c.message_rate_per_minute, 240);
    assert_eq!(c.silent_rate_per_minute, 240);
}
