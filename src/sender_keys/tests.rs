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
    // A key newer than today (a clock ahead elsewhere) is kept, and no
    // older one is added beside it.
    assert!(ring_with(&[101]).rotated(100 * DAY, TWO_DAYS).is_none());
    // An empty ring gets one key.
    assert_eq!(
        KeyRing::default().rotated(5 * DAY, 0).unwrap().epochs(),
        [5]
    );
}

#[test]
fn the_newest_key_makes_the_stored_tag_and_older_keys_the_counted_ones() {
    let old = KeyRing::default().rotated(99 * DAY, TWO_DAYS).unwrap();
    let both = old.rotated(100 * DAY, TWO_DAYS).unwrap();
    let before = old.tags("203.0.113.7");
    let after = both.tags("203.0.113.7");
    assert!(
        before.current.starts_with("h:") && before.current.len() == 14,
        "{before:?}"
    );
    assert!(before.older.is_empty());
    assert_ne!(after.current, before.current);
    assert_eq!(after.older, std::slice::from_ref(&before.current));
    assert_ne!(both.tags("203.0.113.8").current, after.current);
    assert_eq!(KeyRing::default().tags("203.0.113.7").current, "");
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

    std::fs::write(&path, b"{\"v\":1,\"keys\":[{\"epoch\":1,\"key\":\"x\"}]}").unwrap();
    let err = SenderKeys::open(path, TWO_DAYS, 0).err().unwrap();
    let text = format!("{err:#}");
    assert!(
        text.contains("malformed") && text.contains("sender-keys"),
        "{text}"
    );
    // A check of a running ring keeps the keys it has.
    assert!(keys.check().is_err());
    assert_eq!(keys.ring().epochs().len(), 1);
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

    // Assert: b now tags with the new key and still counts the old one.
    let tags = b.tags("192.0.2.1");
    assert_eq!(tags, ahead.tags("192.0.2.1"));
    assert_ne!(tags.current, yesterday);
    assert_eq!(tags.older, [yesterday]);
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
