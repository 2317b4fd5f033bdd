//! The nostr listener (SPEC §12) against real relays (PyPI `nostr-relay`
//! 1.14, see `helpers::nostr_relay`) and the stand-in push service: which
//! events make a push, across relays, for handles registered later, and
//! after the relay restarts.

use std::sync::atomic::Ordering;
use std::time::Duration;

use kez_chat_server::config::parse_relays;
use kez_chat_server::kez::Identity;
use kez_chat_server::kez::nostr::{KIND_MESSAGE, addr};
use kez_chat_server::nostr::NostrStats;
use nostr_sdk::prelude::*;
use serde_json::Value;

use crate::helpers::nostr_relay::NostrRelay;
use crate::helpers::push_service::PushService as StandIn;
use crate::helpers::*;
use crate::push::{insecure_app_with, push_service_for, subscribe_new, wait_push_idle};

/// An app listening on `relays`, the stand-in push service, and bob
/// registered and subscribed at `/bob`.
async fn app_on(relays: &[&NostrRelay]) -> (TestApp, StandIn, TestIdentity) {
    let urls: Vec<String> = relays.iter().map(|r| r.url()).collect();
    app_on_urls(&urls, |_| {}).await
}

/// [`app_on`] by relay URLs, after `tweak` adjusts the config.
pub(crate) async fn app_on_urls(
    urls: &[String],
    tweak: impl FnOnce(&mut kez_chat_server::config::Config),
) -> (TestApp, StandIn, TestIdentity) {
    let app = insecure_app_with(|c| {
        c.nostr_relays = parse_relays(&urls.join(",")).unwrap();
        c.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
        tweak(c);
    })
    .await;
    let ps = push_service_for(&app).await;
    let bob = app.user("bob").await;
    subscribe_new(&app, &bob, "bob", &ps.endpoint("/bob")).await;
    wait_connected(&app, urls.len()).await;
    (app, ps, bob)
}

pub(crate) fn stats(app: &TestApp) -> &NostrStats {
    &app.state().nostr.as_ref().unwrap().stats
}

pub(crate) async fn wait_connected(app: &TestApp, n: usize) {
    let n = u64::try_from(n).unwrap();
    // nostr-sdk's reconnect backoff grows while a relay is down, and a
    // Python relay restarting on a busy CI core takes seconds: a generous bound.
    wait_for(60, "the relays to be connected", async || {
        stats(app).relays_connected.load(Ordering::Relaxed) == n
    })
    .await;
}

pub(crate) async fn wait_pushed(app: &TestApp, n: u64) {
    wait_for(20, "the listener to push", async || {
        stats(app).accepted.load(Ordering::Relaxed) >= n
    })
    .await;
    wait_push_idle(app).await;
}

pub(crate) fn addr_of(id: &TestIdentity) -> String {
    addr(&Identity::parse(&id.primary()).unwrap())
}

/// An envelope v2 by its outer shape (§8), all the listener checks.
pub(crate) const ENVELOPE: &str = concat!(
    r#"{"ct":"AAAA","epk":""#,
    "0000000000000000000000000000000000000000000000000000000000000000",
    r#"","nonce":"000000000000000000000000","v":2}"#
);

/// A signed event of `kind` for `to`, dated `age` seconds ago (negative: ahead).
pub(crate) fn event(kind: u16, to: &str, age: i64) -> Event {
    event_with(kind, &[to], age, ENVELOPE)
}

/// A signed event of `kind` with one `q` tag per value of `qs`, in order.
pub(crate) fn event_with(kind: u16, qs: &[&str], age: i64, content: &str) -> Event {
    let at = u64::try_from(now() - age).unwrap();
    let q = TagKind::SingleLetter(SingleLetterTag::lowercase(Alphabet::Q));
    EventBuilder::new(Kind::from(kind), content)
        .tags(qs.iter().map(|v| Tag::custom(q.clone(), [*v])))
        .custom_created_at(Timestamp::from(at))
        .sign_with_keys(&Keys::generate())
        .unwrap()
}

/// Publishes `events` to `relay` and waits until the relay accepted each.
async fn publish(relay: &NostrRelay, events: &[Event]) {
    let client = Client::default();
    client.add_relay(relay.url()).await.unwrap();
    client.connect().await;
    client.wait_for_connection(Duration::from_secs(10)).await;
    let sends = futures_util::future::join_all(events.iter().map(|e| client.send_event(e)));
    for sent in within(30, "the relay to accept the events", sends).await {
        let out = sent.unwrap();
        assert!(!out.success.is_empty(), "refused: {:?}", out.failed);
    }
    client.shutdown().await;
}

#[tokio::test]
async fn an_event_pushes_once_even_through_a_second_relay() {
    let (Some(r1), Some(r2)) = (NostrRelay::start().await, NostrRelay::start().await) else {
        return;
    };
    let (app, ps, bob) = app_on(&[&r1, &r2]).await;
    let ev = event(KIND_MESSAGE, &addr_of(&bob), 0);

    publish(&r1, std::slice::from_ref(&ev)).await;
    wait_pushed(&app, 1).await;
    publish(&r2, std::slice::from_ref(&ev)).await;
    // The second copy reaches the listener's own dedupe (nostr-sdk's is
    // kept to one id, TODO #59) and is counted there.
    wait_for(20, "the second copy to be seen", async || {
        stats(&app).duplicates.load(Ordering::Relaxed) >= 1
    })
    .await;
    wait_push_idle(&app).await;

    assert_eq!(ps.received("/bob").len(), 1);
    assert_eq!(stats(&app).accepted.load(Ordering::Relaxed), 1);
    ps.assert_no_problems();
}

#[tokio::test]
async fn a_handle_registered_after_start_is_covered_within_two_seconds() {
    let Some(relay) = NostrRelay::start().await else {
        return;
    };
    let (app, ps, _bob) = app_on(&[&relay]).await;
    let carol = app.user("carol").await;
    subscribe_new(&app, &carol, "carol", &ps.endpoint("/carol")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    publish(&relay, &[event(KIND_MESSAGE, &addr_of(&carol), 0)]).await;
    wait_pushed(&app, 1).await;

    assert_eq!(ps.received("/carol").len(), 1);
    assert!(ps.received("/bob").is_empty());
}

#[tokio::test]
async fn a_restarted_relay_is_reconnected_and_resubscribed() {
    let Some(mut relay) = NostrRelay::start().await else {
        return;
    };
    let (app, ps, bob) = app_on(&[&relay]).await;
    relay.kill().await;
    wait_connected(&app, 0).await;
    relay.restart().await;
    wait_connected(&app, 1).await;
    // The listener's own re-send on the new connection (TODO #60).
    wait_for(30, "the shards to be re-sent", async || {
        stats(&app).resubscribed.load(Ordering::Relaxed) >= 1
    })
    .await;
    let text = app.metrics_text().await;
    let resent = text
        .lines()
        .find_map(|l| l.strip_prefix("kez_nostr_resubscriptions_total "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(resent >= Some(1), "no re-sends in /metrics:\n{text}");

    // The REQ may still be on its way when the event is published: publish
    // a new event every 5 s until one pushes (bounded).
    let pushed = || stats(&app).accepted.load(Ordering::Relaxed) >= 1;
    let mut published = 0;
    for _ in 0..12 {
        published += 1;
        publish(&relay, &[event(KIND_MESSAGE, &addr_of(&bob), 0)]).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !pushed() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if pushed() {
            break;
        }
    }
    assert!(
        pushed(),
        "the listener never resubscribed after the restart: {:?}\nrelay log:\n{}",
        stats(&app),
        relay.log()
    );
    wait_push_idle(&app).await;

    // One push per event at most (usually exactly one event was needed).
    assert!((1..=published).contains(&ps.received("/bob").len()));
}

#[tokio::test]
async fn a_dead_relay_does_not_stop_the_others() {
    let Some(relay) = NostrRelay::start().await else {
        return;
    };
    let list = format!("ws://127.0.0.1:1,{}", relay.url());
    let app = insecure_app_with(|c| c.nostr_relays = parse_relays(&list).unwrap()).await;
    let ps = push_service_for(&app).await;
    let bob = app.user("bob").await;
    subscribe_new(&app, &bob, "bob", &ps.endpoint("/bob")).await;
    wait_connected(&app, 1).await;

    publish(&relay, &[event(KIND_MESSAGE, &addr_of(&bob), 0)]).await;
    wait_pushed(&app, 1).await;

    assert_eq!(ps.received("/bob").len(), 1);
}

#[tokio::test]
async fn the_discovery_document_lists_transports_and_relays() {
    let app = spawn_app().await;
    let body: Value = app.get("/v1/server").await.json().await.unwrap();
    assert_eq!(body["transports"], serde_json::json!(["server"]));
    assert_eq!(body["nostr_relays"], serde_json::json!([]));
    assert_eq!(body["server"], SERVER);

    let relays = parse_relays("wss://relay.example/, ws://127.0.0.1:1").unwrap();
    let app = spawn_app_with(|c| c.nostr_relays = relays).await;
    let res = app.get("/v1/server").await;
    assert_eq!(header(&res, "cache-control"), "no-cache");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["transports"], serde_json::json!(["server", "nostr"]));
    assert_eq!(
        body["nostr_relays"],
        serde_json::json!(["wss://relay.example/", "ws://127.0.0.1:1/"])
    );
}

#[test]
fn relay_lists_are_validated() {
    assert!(parse_relays("").unwrap().0.is_empty());
    for bad in [
        "https://relay.example",
        "relay.example",
        "ws://u:p@relay.example",
        "ws://",
    ] {
        assert!(parse_relays(bad).is_err(), "{bad}");
    }
    let twice = parse_relays("wss://a.example,wss://a.example/").unwrap();
    assert_eq!(twice.0, ["wss://a.example/"]);
}

#[tokio::test]
async fn a_thousand_registered_handles_are_all_covered() {
    const N: usize = 1000;
    let Some(relay) = NostrRelay::start().await else {
        return;
    };
    let (app, _ps, bob) = app_on(&[&relay]).await;
    let mut addrs = vec![addr_of(&bob)];
    for batch in 0..N / 50 {
        let users = (0..50).map(|i| app.user_owned(format!("user{:04}", batch * 50 + i)));
        let ids = futures_util::future::join_all(users).await;
        addrs.extend(ids.iter().map(addr_of));
    }
    let events: Vec<Event> = addrs.iter().map(|a| event(KIND_MESSAGE, a, 0)).collect();

    publish(&relay, &events).await;

    let want = u64::try_from(addrs.len()).unwrap();
    wait_for(60, "every handle to be pushed", async || {
        stats(&app).accepted.load(Ordering::Relaxed) == want
    })
    .await;
    let s = stats(&app);
    assert_eq!(s.rejected_unknown_addr.load(Ordering::Relaxed), 0);
}
