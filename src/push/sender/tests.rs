//! Unit tests of the push sender: coalescing, retry decisions, error descriptions.

use super::*;
use axum::http::HeaderValue;

#[test]
fn the_coalescer_gives_its_room_back_after_a_burst() {
    let t0 = Instant::now();
    let w = Duration::from_secs(2);
    let mut c = Coalescer::new(w, 20_000);
    for i in 0..10_000 {
        c.add(h(&format!("u{i:05}")), false, t0);
    }
    assert_eq!(c.take_due(t0 + w).len(), 10_000);
    let (queue, map) = c.capacities();
    assert!(
        queue <= 128 && map <= 128,
        "room kept: queue {queue}, map {map}"
    );
}

#[test]
fn coalescer_folds_a_burst_and_bounds_the_backlog() {
    let t0 = Instant::now();
    let w = Duration::from_secs(2);
    let mut c = Coalescer::new(w, 2);
    assert_eq!(c.add(h("bob"), false, t0), Added::Scheduled);
    for i in 1..5 {
        assert_eq!(
            c.add(h("bob"), false, t0 + Duration::from_millis(100 * i)),
            Added::Coalesced
        );
    }
    assert_eq!(
        c.add(h("alice"), true, t0 + Duration::from_secs(1)),
        Added::Scheduled
    );
    assert_eq!(c.add(h("carol"), false, t0), Added::Full);
    assert_eq!(c.next_due(), Some(t0 + w));
    assert!(c.take_due(t0 + Duration::from_millis(1999)).is_empty());
    assert_eq!(c.take_due(t0 + w), [(h("bob"), false)]);
    // bob's window is over: a new notification starts a new one, and a
    // nostr one joining it marks the whole window as nostr's
    assert_eq!(c.add(h("bob"), false, t0 + w), Added::Scheduled);
    assert_eq!(c.add(h("bob"), true, t0 + w), Added::Coalesced);
    assert_eq!(c.add(h("bob"), false, t0 + w), Added::Coalesced);
    assert_eq!(
        c.take_due(t0 + w * 3),
        [(h("alice"), true), (h("bob"), true)]
    );
    assert_eq!((c.len(), c.next_due()), (0, None));
    // Shutdown takes what is waiting, due or not, and frees the slots.
    c.add(h("dave"), true, t0 + w * 3);
    c.add(h("erin"), false, t0 + w * 4);
    assert_eq!(c.take_all(), [(h("dave"), true), (h("erin"), false)]);
    assert_eq!(c.add(h("dave"), false, t0 + w * 4), Added::Scheduled);
}

#[tokio::test]
async fn transport_errors_are_described_without_the_endpoint() {
    let client = build_client(true).unwrap();
    let e = client
        .post("http://127.0.0.1:1/push/secret-token")
        .send()
        .await
        .unwrap_err();
    let text = describe(&e);
    assert_eq!(text, "cannot connect: connection refused");
    assert!(
        e.to_string().contains("127.0.0.1"),
        "reqwest's own text would leak it"
    );
}

#[test]
fn statuses_map_to_outcomes() {
    let none = HeaderMap::new();
    assert_eq!(classify(StatusCode::CREATED, &none), Attempt::Delivered);
    assert_eq!(
        classify(StatusCode::GONE, &none),
        Attempt::Gone(StatusCode::GONE)
    );
    assert_eq!(
        classify(StatusCode::NOT_FOUND, &none),
        Attempt::Gone(StatusCode::NOT_FOUND)
    );
    for s in [429, 500, 502, 503] {
        let status = StatusCode::from_u16(s).unwrap();
        assert!(
            matches!(classify(status, &none), Attempt::Retry { .. }),
            "{s}"
        );
    }
    for s in [301, 400, 401, 403, 413] {
        let status = StatusCode::from_u16(s).unwrap();
        assert!(matches!(classify(status, &none), Attempt::Failed(_)), "{s}");
    }
}

#[test]
fn retry_after_seconds_and_dates() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-05-25T03:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let with = |v: &str| {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        retry_after(&h, now)
    };
    assert_eq!(with("7"), Some(Duration::from_secs(7)));
    assert_eq!(
        with("Mon, 25 May 2026 03:00:30 GMT"),
        Some(Duration::from_secs(30))
    );
    assert_eq!(with("Mon, 25 May 2026 02:00:00 GMT"), Some(Duration::ZERO));
    assert_eq!(with("soon"), None);
    assert_eq!(retry_after(&HeaderMap::new(), now), None);
    assert_eq!(backoff(1), Duration::from_secs(1));
    assert_eq!(backoff(3), Duration::from_secs(4));
}

fn h(handle: &str) -> Handle {
    Handle::parse(handle).unwrap()
}
