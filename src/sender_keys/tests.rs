//! Unit tests of the key ring: rotation by retention, tags, the file's
//! format, and instances converging through one file.

use super::*;

const DAY: i64 = EPOCH_SECS;
const TWO_DAYS: u64 = 2 * 86_400;

/// A ring holding keys for exactly `epochs` (fresh random keys).
fn ring_with(epochs: &[i64]) -> KeyRing {
    let keys: Vec<String> = epochs
        .iter()
        .map(|e| format!(r#"{{"epoch":{e},"key":"{}"}}"#, "A".repeat(43)))
        .collect();
    let json = format!(r#"{{"v":1,"keys":[{}]}}"#, keys.join(","));
    KeyRing::parse(json.as_bytes()).unwrap()
}

#[test]
fn a_rotation_keeps_the_keys_of_live_messages_and_drops_older_ones() {
    // Arrange: noon of day 100, a 48 h retention: messages stored under
    // day 98's key (until 99 × 86400) live until the end of day 100, those
    // of day 97 have all expired.
    let now = 100 * DAY + DAY / 2;
    let ring = ring_with(&[97, 98, 99, 100]);

    // Act
    let rotated = ring.rotated(now, TWO_DAYS).expect("day 97 must go");

    // Assert: 98 stays, 97 went.
    assert_eq!(rotated.epochs(), [98, 99, 100]);
    assert!(
        rotated.rotated(now, TWO_DAYS).is_none(),
        "a second rotation changes nothing"
    );
    // Once day 101 begins, day 98's messages have all expired.
    let next_day = 101 * DAY + 1;
    assert_eq!(
        ring.rotated(next_day, TWO_DAYS).unwrap().epochs(),
        [99, 100, 101]
    );
}

#[test]
fn a_rotation_adds_a_key_for_a_new_day_and_keeps_the_newest_ones() {
    let ring = ring_with(&[99]);
    // A new day: today's key is added, yesterday's kept.
    assert_eq!(
        ring.rotated(100 * DAY, TWO_DAYS).unwrap().epochs(),
        [99, 100]
    );
    // No retention at all: only today's key.
    assert_eq!(ring.rotated(100 * DAY + 1, 0).unwrap().epochs(), [100]);
    // A key one day newer than today (a clock ahead elsewhere) is kept,
    // and today's key is added beside it.
    assert_eq!(
        ring_with(&[101])
            .rotated(100 * DAY, TWO_DAYS)
            .unwrap()
            .epochs(),
        [100, 101]
    );
    // An empty ring gets one key.
    assert_eq!(
        KeyRing::default().rotated(5 * DAY, 0).unwrap().epochs(),
        [5]
    );
}

#[test]
fn todays_key_makes_the_stored_tag_and_older_keys_the_counted_ones() {
    let old = KeyRing::default().rotated(99 * DAY, TWO_DAYS).unwrap();
    let both = old.rotated(100 * DAY, TWO_DAYS).unwrap();
    let before = old.tags("203.0.113.7", 99 * DAY);
    let after = both.tags("203.0.113.7", 100 * DAY);
    assert!(
        before.current.starts_with("h:") && before.current.len() == 14,
        "{before:?}"
    );
    assert!(before.older.is_empty());
    assert_ne!(after.current, before.current);
    assert_eq!(after.older, std::slice::from_ref(&before.current));
    assert_ne!(both.tags("203.0.113.8", 100 * DAY).current, after.current);
    assert_eq!(KeyRing::default().tags("203.0.113.7", 0).current, "");
}

#[test]
fn the_ring_file_round_trips_and_a_malformed_one_is_refused() {
    let ring = KeyRing::default().rotated(100 * DAY, 0).unwrap();
    assert_eq!(KeyRing::parse(&ring.to_json()).unwrap(), ring);
    let key = "A".repeat(43);
    for bad in [
        "".to_owned(),
        "not json".to_owned(),
        r#"{"keys":[]}"#.to_owned(),
        format!(r#"{{"v":2,"keys":[{{"epoch":1,"key":"{key}"}}]}}"#),
        r#"{"v":1,"keys":[{"epoch":1,"key":"c2hvcnQ"}]}"#.to_owned(),
        format!(r#"{{"v":1,"keys":[{{"epoch":1,"key":"{key}="}}]}}"#),
        format!(r#"{{"v":1,"keys":[{{"epoch":1,"key":"{key}"}},{{"epoch":1,"key":"{key}"}}]}}"#),
    ] {
        assert!(KeyRing::parse(bad.as_bytes()).is_err(), "accepted {bad}");
    }
}

#[test]
fn open_creates_a_private_ring_and_refuses_a_malformed_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kez.db.sender-keys");
    let keys = SenderKeys::open(path.clone(), TWO_DAYS, 0).unwrap();
    assert_eq!(keys.ring().epochs().len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Reopened: the same key.
    let again = SenderKeys::open(path.clone(), TWO_DAYS, 0).unwrap();
    assert_eq!(again.tags("10.0.0.1"), keys.tags("10.0.0.1"));

    for bad in [
        &b"{\"v\":1,\"keys\":[{\"epoch\":1,\"key\":\"x\"}]}"[..],
        b"",
    ] {
        std::fs::write(&path, bad).unwrap();
        let err = SenderKeys::open(path.clone(), TWO_DAYS, 0).err().unwrap();
        let text = format!("{err:#}");
        assert!(
            text.contains("malformed")
                && text.contains("sender-keys")
                && text.contains("delete it to start a fresh ring"),
            "{text}"
        );
    }
}

#[test]
fn two_instances_converge_on_the_keys_one_of_them_rotates() {
    // Arrange: two instances sharing one ring file, the same day.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sender-keys");
    let a = SenderKeys::open(path.clone(), TWO_DAYS, 0).unwrap();
    let b = SenderKeys::open(path.clone(), TWO_DAYS, 0).unwrap();
    assert_eq!(a.tags("192.0.2.1"), b.tags("192.0.2.1"));
    let yesterday = a.tags("192.0.2.1").current;

    // Act: an instance whose clock is already on the next day rotates the
    // file; the other one checks it.
    let ahead = SenderKeys::open(path, TWO_DAYS, 1).unwrap();
    assert_eq!(ahead.ring().epochs().len(), 2);
    b.check().unwrap();

    // Assert: b holds the new key and counts its tag, but stores under
    // the key of its own day until that day ends; the instance ahead
    // stores under the new key and counts the old one.
    let tags = b.tags("192.0.2.1");
    let new = ahead.tags("192.0.2.1");
    assert_ne!(new.current, yesterday);
    assert_eq!(new.older, std::slice::from_ref(&yesterday));
    assert_eq!(tags.current, yesterday);
    assert_eq!(tags.older, [new.current]);
    // Nothing changed on disk, nothing to reload: a's check is a no-op
    // read, and both agree.
    a.check().unwrap();
    assert_eq!(a.tags("192.0.2.1"), tags);
}

#[test]
fn instances_starting_together_on_no_ring_create_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.sender-keys");
    let tags: Vec<_> = std::thread::scope(|s| {
        let starts: Vec<_> = (0..4)
            .map(|_| s.spawn(|| SenderKeys::open(path.clone(), TWO_DAYS, 0).unwrap()))
            .collect();
        starts
            .into_iter()
            .map(|h| h.join().unwrap().tags("198.51.100.1"))
            .collect()
    });
    assert!(tags.windows(2).all(|w| w[0] == w[1]), "{tags:?}");
}

#[test]
fn a_deleted_ring_file_is_written_again_with_the_keys_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.sender-keys");
    let keys = SenderKeys::open(path.clone(), TWO_DAYS, 0).unwrap();
    let before = keys.tags("192.0.2.9");
    std::fs::remove_file(&path).unwrap();
    keys.check().unwrap();
    let reread = SenderKeys::open(path, TWO_DAYS, 0).unwrap();
    assert_eq!(reread.tags("192.0.2.9"), before);
}

/// The WARN and ERROR lines `f` logs on this thread.
fn warnings_of(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<parking_lot::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let out = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || out.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8(buf.0.lock().clone()).unwrap()
}

#[test]
fn a_key_more_than_a_day_ahead_is_dropped_and_todays_key_is_added() {
    // A hand-written or clock-ahead ring holding only a far future day.
    let far = ring_with(&[99_999]).rotation(100 * DAY, TWO_DAYS);
    assert_eq!((far.ring.epochs(), far.ahead), (vec![100], vec![99_999]));
    // One day ahead (another instance past midnight) is kept.
    let near = ring_with(&[100, 101]).rotation(100 * DAY, TWO_DAYS);
    assert_eq!((near.ring.epochs(), near.ahead), (vec![100, 101], vec![]));
    assert_eq!(
        ring_with(&[100, 103])
            .rotated(100 * DAY, TWO_DAYS)
            .unwrap()
            .epochs(),
        [100]
    );

    // The rotation on disk WARNs about it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ahead.sender-keys");
    std::fs::write(&path, ring_with(&[99_999]).to_json()).unwrap();
    let logs = warnings_of(|| drop(SenderKeys::open(path.clone(), TWO_DAYS, 0).unwrap()));
    assert!(
        logs.contains("WARN") && logs.contains("more than a day ahead"),
        "{logs}"
    );
    let on_disk = KeyRing::parse(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(on_disk.epochs(), [epoch_of(crate::store::unix_now())]);
}

#[test]
fn tags_are_stored_under_the_current_epochs_key_even_when_a_later_one_exists() {
    // Arrange: a ring made by a clock on day 101, then today's key (100).
    let later = KeyRing::default().rotated(101 * DAY, TWO_DAYS).unwrap();
    let both = later.rotated(100 * DAY + 5, TWO_DAYS).unwrap();
    assert_eq!(both.epochs(), [100, 101]);
    let net = "198.51.100.0";

    // Act
    let today = both.tags(net, 100 * DAY + 5);
    let tomorrow = both.tags(net, 101 * DAY);

    // Assert: day 100 stores under 100's key and counts 101's, and back.
    assert_eq!(tomorrow.current, later.tags(net, 101 * DAY).current);
    assert_ne!(today.current, tomorrow.current);
    assert_eq!(today.older, std::slice::from_ref(&tomorrow.current));
    assert_eq!(tomorrow.older, std::slice::from_ref(&today.current));
    // A day with no key: the newest not after it; before all: the oldest.
    assert_eq!(both.tags(net, 102 * DAY).current, tomorrow.current);
    assert_eq!(both.tags(net, 99 * DAY).current, today.current);
}

#[test]
fn a_clock_jump_of_days_keeps_the_key_used_just_before_it() {
    // Arrange: one key from day 100, then the clock steps to day 103.
    let before = KeyRing::default().rotated(100 * DAY, TWO_DAYS).unwrap();
    let net = "192.0.2.0";
    let stored = before.tags(net, 100 * DAY).current;

    // Act
    let jumped = before.rotation(103 * DAY + DAY / 2, TWO_DAYS);

    // Assert: day 100's key stays (its messages were stored until the
    // jump) and its tag still counts; today's key stores.
    assert_eq!(jumped.ring.epochs(), [100, 103]);
    assert!(jumped.expired.is_empty());
    let tags = jumped.ring.tags(net, 103 * DAY + DAY / 2);
    assert_eq!(tags.older, std::slice::from_ref(&stored));
    // It goes a full retention after day 103's key took over.
    assert_eq!(
        jumped
            .ring
            .rotated(105 * DAY + 1, TWO_DAYS)
            .unwrap()
            .epochs(),
        [103, 105]
    );
    // The clock steps back: day 103's key is dropped as ahead, and day
    // 100's stores again.
    let back = jumped.ring.rotated(100 * DAY + 7, TWO_DAYS).unwrap();
    assert_eq!(back.tags(net, 100 * DAY + 7).current, stored);
}

#[test]
fn a_rotation_dropping_several_keys_says_so() {
    // Days 96 to 99 kept, then a restart on day 103 (48 h retention):
    // 99 stays (103 took over after it), 96 to 98 go together.
    let rotation = ring_with(&[96, 97, 98, 99]).rotation(103 * DAY, TWO_DAYS);
    assert_eq!(rotation.ring.epochs(), [99, 103]);
    assert_eq!(rotation.expired, [96, 97, 98]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sender-keys");
    let today = epoch_of(crate::store::unix_now());
    std::fs::write(
        &path,
        ring_with(&[today - 9, today - 8, today - 7]).to_json(),
    )
    .unwrap();
    let logs = warnings_of(|| drop(SenderKeys::open(path, TWO_DAYS, 0).unwrap()));
    assert!(logs.contains("more than one key at once"), "{logs}");
}

#[test]
fn a_ring_replaced_without_a_live_key_is_reloaded_with_a_warning() {
    // Arrange: a running ring; another ring for the same day.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("swap.sender-keys");
    let keys = SenderKeys::open(path.clone(), TWO_DAYS, 0).unwrap();
    let now = crate::store::unix_now();
    let other = KeyRing::default().rotated(now, TWO_DAYS).unwrap();
    assert_eq!(
        keys.ring().live_keys_lost_in(&other, now, TWO_DAYS),
        [epoch_of(now)]
    );
    // A rotation elsewhere (a key added) loses nothing.
    let added = keys.ring().rotated(now + DAY, TWO_DAYS).unwrap();
    assert!(
        keys.ring()
            .live_keys_lost_in(&added, now, TWO_DAYS)
            .is_empty()
    );

    // Act: the file is replaced by the other ring.
    std::fs::write(&path, other.to_json()).unwrap();
    let logs = warnings_of(|| keys.check().unwrap());

    // Assert: taken, with a WARN.
    assert_eq!(*keys.ring(), other);
    assert!(
        logs.contains("WARN") && logs.contains("without the keys of live epochs"),
        "{logs}"
    );
}

#[test]
fn a_ring_malformed_while_running_is_written_again_from_memory() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.sender-keys");
    let keys = SenderKeys::open(path.clone(), TWO_DAYS, 0).unwrap();
    let before = keys.tags("203.0.113.0");
    std::fs::write(&path, b"garbage").unwrap();

    // Act
    let first = warnings_of(|| keys.check().unwrap());
    let second = warnings_of(|| keys.check().unwrap());

    // Assert: one WARN with the error's message (no backtrace), the file
    // is whole again with the same keys, and a restart takes it.
    assert_eq!(first.matches("WARN").count(), 1, "{first}");
    assert!(
        first.contains("not the ring's JSON") && !first.contains("backtrace"),
        "{first}"
    );
    assert!(second.is_empty(), "{second}");
    assert_eq!(keys.tags("203.0.113.0"), before);
    let restarted = SenderKeys::open(path, TWO_DAYS, 0).unwrap();
    assert_eq!(restarted.tags("203.0.113.0"), before);
}
