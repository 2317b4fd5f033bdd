//! The nostr listener (SPEC §12) against a hostile relay
//! (`helpers::fault_relay`, which serves any raw event whatever the
//! filter): each refusal reason on its own counter, the first `q` tag only,
//! the per-handle push budget, pushes sent apart from events accepted, the
//! dedupe kept across a listener restart, and the re-fetch after a lag.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use kez_chat_server::kez::nostr::{KIND_ACK, KIND_MESSAGE};
use kez_chat_server::nostr::{NostrHandle, NostrListener};
use nostr_sdk::prelude::*;
use serde_json::Value;
use tokio::sync::watch;

use crate::helpers::fault_relay::FaultRelay;
use crate::helpers::*;
use crate::nostr::{ENVELOPE, addr_of, app_on_urls, event, event_with, stats};
use crate::push::{insecure_app_with, push_service_for, subscribe_new, wait_push_idle};

/// `/metrics` as name → value, for the `kez_nostr_` lines.
async fn nostr_metrics(app: &TestApp) -> HashMap<String, u64> {
    let text = app.metrics_text().await;
    text.lines()
        .filter(|l| l.starts_with("kez_nostr_"))
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect()
}

fn raw(events: &[Event]) -> Vec<String> {
    events.iter().map(Event::as_json).collect()
}

#[tokio::test]
async fn a_hostile_relays_events_are_refused_each_by_its_spec_code() {
    let relay = FaultRelay::start(Vec::new()).await;
    let (app, ps, bob) = app_on_urls(&[relay.url()], |_| {}).await;
    let to = addr_of(&bob);
    let other = "0".repeat(64);
    let good = event(KIND_MESSAGE, &to, 0);
    let mut bad_id: Value = serde_json::from_str(&event(KIND_MESSAGE, &to, 0).as_json()).unwrap();
    bad_id["content"] = ENVELOPE.replace("AAAA", "AAAB").into();
    let mut bad_sig: Value = serde_json::from_str(&event(KIND_MESSAGE, &to, 0).as_json()).unwrap();
    bad_sig["sig"] = serde_json::to_value(event(KIND_MESSAGE, &to, 0).sig).unwrap();
    let mut events = raw(&[
        good.clone(),
        event(KIND_ACK, &to, 0),
        // The first `q` routes: bob's addr second must not count.
        event_with(KIND_MESSAGE, &[&other, &to], 0, ENVELOPE),
        event_with(KIND_MESSAGE, &["not-an-addr", &to], 0, ENVELOPE),
        event(KIND_MESSAGE, &to, -400),
        event(KIND_MESSAGE, &to, 172_800 + 60),
        event_with(KIND_MESSAGE, &[&to], 0, "{\"v\":2}"),
        good,
    ]);
    events.extend([bad_id.to_string(), bad_sig.to_string()]);

    relay.set_events(events);
    // A new registration makes the listener send its REQ again.
    let _carol = app.user("carol").await;
    let codes = [
        "wrong_kind",
        "bad_route",
        "future",
        "stale",
        "unknown_addr",
        "not_envelope",
    ];
    wait_for(20, "every refusal to be counted", async || {
        let m = nostr_metrics(&app).await;
        let refused = codes.iter().all(|c| {
            m.get(&format!("kez_nostr_events_rejected_{c}_total"))
                .is_some_and(|n| *n >= 1)
        });
        // The good event is counted once its claim settled (batched, TODO
        // #141): under load that can come after the duplicate's count.
        refused
            && m.get("kez_nostr_events_duplicate_total") >= Some(&1)
            && m.get("kez_nostr_events_accepted_total") >= Some(&1)
    })
    .await;
    wait_push_idle(&app).await;

    let m = nostr_metrics(&app).await;
    assert_eq!(m["kez_nostr_events_accepted_total"], 1, "{m:?}");
    assert_eq!(ps.received("/bob").len(), 1);
    // nostr-sdk verifies id and signature before the listener sees an event:
    // ours is defence in depth (unit-tested in src/nostr/check.rs).
    assert_eq!(m["kez_nostr_events_rejected_bad_id_total"], 0);
    assert_eq!(m["kez_nostr_events_rejected_bad_signature_total"], 0);
    let s = stats(&app);
    assert_eq!(
        s.rejected_future.load(Ordering::Relaxed),
        m["kez_nostr_events_rejected_future_total"]
    );
    let text = app.metrics_text().await;
    assert!(!text.contains(&to[..16]), "an addr in /metrics");
    ps.assert_no_problems();
}

#[tokio::test]
async fn pushes_are_budgeted_per_handle_and_sent_pushes_counted_apart() {
    let relay = FaultRelay::start(Vec::new()).await;
    let (app, ps, bob) = app_on_urls(&[relay.url()], |c| c.nostr_push_per_minute = 2).await;
    let carol = app.user("carol").await; // registered, no push subscription
    let (to_bob, to_carol) = (addr_of(&bob), addr_of(&carol));
    let mut events: Vec<Event> = (0..4).map(|_| event(KIND_MESSAGE, &to_bob, 0)).collect();
    events.push(event(KIND_MESSAGE, &to_carol, 0));

    relay.set_events(raw(&events));
    let _dave = app.user("dave").await; // the REQ again, with the events
    wait_for(20, "every event to be decided", async || {
        let s = stats(&app);
        s.accepted.load(Ordering::Relaxed) + s.over_budget.load(Ordering::Relaxed) >= 5
    })
    .await;
    wait_push_idle(&app).await;

    let m = nostr_metrics(&app).await;
    assert_eq!(m["kez_nostr_events_accepted_total"], 3, "{m:?}");
    assert_eq!(m["kez_nostr_events_over_budget_total"], 2);
    // Sent: bob's (his two usually coalesce into one push, but the test
    // window is 50 ms); carol has no subscription, so hers sends nothing.
    let bob_pushes = u64::try_from(ps.received("/bob").len()).unwrap();
    assert!((1..=2).contains(&bob_pushes));
    assert_eq!(m["kez_nostr_pushes_sent_total"], bob_pushes, "{m:?}");
    assert_eq!(m["kez_nostr_pushes_dropped_total"], 0);
}

/// A listener built like the server's, on `relay`, for an app whose own
/// listener is off; runs are started and stopped by the test, as the
/// supervisor restarts one (`server::supervise_workers` calls `run` again
/// on the same listener).
fn listener_for(app: &TestApp, relay: &FaultRelay, channel: usize) -> (NostrListener, NostrHandle) {
    let state = app.state();
    let handle = NostrHandle::default();
    let listener = NostrListener::new(
        vec![relay.url()],
        state.store.clone(),
        state.push.clone(),
        handle.clone(),
        30,
    )
    .with_channel_size(channel);
    (listener, handle)
}

#[tokio::test]
async fn an_event_seen_before_a_listener_restart_does_not_push_again() {
    let app = insecure_app_with(|_| {}).await;
    let ps = push_service_for(&app).await;
    let bob = app.user("bob").await;
    subscribe_new(&app, &bob, "bob", &ps.endpoint("/bob")).await;
    let relay = FaultRelay::start(raw(&[event(KIND_MESSAGE, &addr_of(&bob), 0)])).await;
    let (listener, handle) = listener_for(&app, &relay, 4096);
    let listener = std::sync::Arc::new(listener);
    let s = handle.stats.clone();

    let (stop, rx) = watch::channel(false);
    let first = tokio::spawn({
        let l = listener.clone();
        async move { l.run(rx).await }
    });
    wait_for(20, "the first run to accept the event", async || {
        s.accepted.load(Ordering::Relaxed) == 1
    })
    .await;
    stop.send_replace(true);
    within(20, "the first run to stop", first).await.unwrap();
    let before = s.received.load(Ordering::Relaxed);

    // The restart: a fresh client, whose REQ gets the same event again.
    let (stop, rx) = watch::channel(false);
    let second = tokio::spawn({
        let l = listener.clone();
        async move { l.run(rx).await }
    });
    wait_for(20, "the second run to receive the event", async || {
        s.received.load(Ordering::Relaxed) > before
    })
    .await;
    stop.send_replace(true);
    within(20, "the second run to stop", second).await.unwrap();
    wait_push_idle(&app).await;

    assert_eq!(s.accepted.load(Ordering::Relaxed), 1);
    assert!(s.duplicates.load(Ordering::Relaxed) >= 1);
    assert_eq!(ps.received("/bob").len(), 1);
}

/// A restarted server (a new process: a new listener, its dedupe empty)
/// subscribes with a 60 s lookback and gets the event it pushed for
/// before the restart again: the ids kept in the database stop a second
/// push (TODO #141).
#[tokio::test]
async fn an_event_pushed_before_a_server_restart_does_not_push_again() {
    // Arrange: one run accepts and pushes the event, then stops.
    let mut app = insecure_app_with(|_| {}).await;
    let ps = push_service_for(&app).await;
    let bob = app.user("bob").await;
    subscribe_new(&app, &bob, "bob", &ps.endpoint("/bob")).await;
    let relay = FaultRelay::start(raw(&[event(KIND_MESSAGE, &addr_of(&bob), 0)])).await;
    let (listener, handle) = listener_for(&app, &relay, 4096);
    let (stop, rx) = watch::channel(false);
    let run = tokio::spawn(async move { listener.run(rx).await });
    wait_for(20, "the first server to accept the event", async || {
        handle.stats.accepted.load(Ordering::Relaxed) == 1
    })
    .await;
    stop.send_replace(true);
    within(20, "the first listener to stop", run).await.unwrap();
    wait_push_idle(&app).await;
    assert_eq!(ps.received("/bob").len(), 1);

    // Act: the server restarts on its database with a new listener.
    app.restart().await;
    let (listener, handle) = listener_for(&app, &relay, 4096);
    let s = handle.stats.clone();
    let (stop, rx) = watch::channel(false);
    let run = tokio::spawn(async move { listener.run(rx).await });
    wait_for(
        20,
        "the restarted server to receive the event",
        async || s.received.load(Ordering::Relaxed) >= 1,
    )
    .await;
    stop.send_replace(true);
    within(20, "the second listener to stop", run)
        .await
        .unwrap();
    wait_push_idle(&app).await;

    // Assert
    assert_eq!(s.accepted.load(Ordering::Relaxed), 0);
    assert_eq!(s.duplicates.load(Ordering::Relaxed), 1);
    assert_eq!(ps.received("/bob").len(), 1);
}

/// Two instances on one database (SPEC §11), each with its own listener
/// and push service, get the same event: only the one whose claim is
/// stored first pushes (before claims, each instance pushed).
#[tokio::test]
async fn two_instances_on_one_database_push_once_per_event() {
    two_instances_push_once(0).await;
}

/// The same for an event dated 20 minutes back (a client's slow clock;
/// the freshness window is 48 h): claims are kept by when they were made,
/// not by the event's date, which would have dropped this one at once.
#[tokio::test]
async fn two_instances_push_once_for_an_event_dated_long_ago() {
    two_instances_push_once(1_200).await;
}

async fn two_instances_push_once(age: i64) {
    // Arrange
    let one = insecure_app_with(|_| {}).await;
    let db = one.config.db.clone();
    let two = insecure_app_with(move |c| c.db = db).await;
    let ps = push_service_for(&one).await;
    let bob = one.user("bob").await;
    subscribe_new(&one, &bob, "bob", &ps.endpoint("/bob")).await;
    let relay = FaultRelay::start(raw(&[event(KIND_MESSAGE, &addr_of(&bob), age)])).await;
    let (l1, h1) = listener_for(&one, &relay, 4096);
    let (l2, h2) = listener_for(&two, &relay, 4096);

    // Act
    let (stop, rx) = watch::channel(false);
    let (rx1, rx2) = (rx.clone(), rx);
    let runs = tokio::spawn(async move { tokio::join!(l1.run(rx1), l2.run(rx2)) });
    let settled = |h: &NostrHandle| {
        h.stats.accepted.load(Ordering::Relaxed) + h.stats.duplicates.load(Ordering::Relaxed)
    };
    wait_for(20, "both instances to settle the event", async || {
        settled(&h1) >= 1 && settled(&h2) >= 1
    })
    .await;
    stop.send_replace(true);
    within(20, "both listeners to stop", runs).await.unwrap();
    wait_push_idle(&one).await;
    wait_push_idle(&two).await;

    // Assert
    let accepted = |h: &NostrHandle| h.stats.accepted.load(Ordering::Relaxed);
    assert_eq!(accepted(&h1) + accepted(&h2), 1);
    assert_eq!(ps.received("/bob").len(), 1);
}

#[tokio::test]
async fn a_listener_that_lags_fetches_the_last_minute_again() {
    let app = insecure_app_with(|_| {}).await;
    let bob = app.user("bob").await;
    let to = addr_of(&bob);
    let events: Vec<Event> = (0..50).map(|_| event(KIND_MESSAGE, &to, 0)).collect();
    let relay = FaultRelay::start(raw(&events)).await;
    // A channel of one notification: the burst of 50 events overflows it.
    let (listener, handle) = listener_for(&app, &relay, 1);
    let s = handle.stats.clone();
    let (stop, rx) = watch::channel(false);
    let run = tokio::spawn(async move { listener.run(rx).await });

    wait_for(20, "the listener to lag", async || {
        s.lagged.load(Ordering::Relaxed) >= 1
    })
    .await;
    let asked = relay.reqs().len();
    wait_for(20, "the shards to be asked for again", async || {
        relay.reqs().len() > asked
    })
    .await;
    stop.send_replace(true);
    within(20, "the listener to stop", run).await.unwrap();

    let again = &relay.reqs()[asked];
    let since = again["since"].as_i64().unwrap();
    let lookback = now() - since;
    assert!((55..=90).contains(&lookback), "since {lookback} s back");
    assert!(s.refetched.load(Ordering::Relaxed) >= 1);
}
