//! Unit tests of the push sender's coalescing (its retry decisions and error
//! descriptions are tested in `attempt.rs`).

use super::*;

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

fn h(handle: &str) -> Handle {
    Handle::parse(handle).unwrap()
}
