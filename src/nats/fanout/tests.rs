//! Unit tests of the NATS fan-out: subjects, wake-up parsing, the subject index.

use serde_json::value::RawValue;

use super::*;

fn h(s: &str) -> Handle {
    Handle::parse(s).unwrap()
}

fn msg(seq: u64) -> Arc<StoredMessage> {
    Arc::new(StoredMessage {
        seq: Seq::new(seq),
        id: "Q2hhdE1lc3NhZ2VJZDAx".to_owned(),
        envelope: RawValue::from_string(r#"{"v":2,"ct":"x"}"#.to_owned()).unwrap(),
        received_at: 1_779_678_001,
    })
}

#[test]
fn subject_is_the_domain_separated_sha256_of_the_handle() {
    // python3: hashlib.sha256(b"kez.chat.inbox\nkez.lat\nbob").hexdigest()
    assert_eq!(
        inbox_subject("kez.lat", "bob"),
        "kez.chat.inbox.7a7e50c99c44f51cddb372ea3ba16902d7ef55756a002c0a27fd39dde3bda476"
    );
    assert_eq!(
        inbox_subject("KEZ.lat", "bob"),
        inbox_subject("kez.lat", "bob")
    );
    assert_ne!(
        inbox_subject("kez.lat", "bob"),
        inbox_subject("other.example", "bob")
    );
    assert_ne!(
        inbox_subject("kez.lat", "bob"),
        inbox_subject("kez.lat", "bob2")
    );
    // "a\nb" + "c" must not collide with "a" + "b\nc"-style splits.
    assert_ne!(inbox_subject("a", "b-c"), inbox_subject("a\nb", "c"));
}

#[test]
fn subject_is_one_valid_token_without_the_handle() {
    let s = inbox_subject("kez.lat", "bob");
    let token = s.strip_prefix(SUBJECT_PREFIX).unwrap();
    assert_eq!(token.len(), 64);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert!(!s.contains("bob"));
}

#[test]
fn payload_round_trips_through_json() {
    let m = msg(7);
    let back = decode_message(&serde_json::to_vec(&*m).unwrap()).unwrap();
    assert_eq!(
        (
            back.seq,
            back.id.as_str(),
            back.envelope.get(),
            back.received_at
        ),
        (Seq::new(7), m.id.as_str(), m.envelope.get(), m.received_at)
    );
    assert!(decode_message(br#"{"seq":1}"#).is_err());
    assert!(decode_message(&serde_json::to_vec(&*msg(0)).unwrap()).is_err());
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_but_local_delivery_goes_on() {
    let (broker, _bridge) = NatsBroker::new("nats://127.0.0.1:1", "kez.lat", 1, LocalBroker::new());
    let mut sub = broker.subscribe(&h("bob"));
    broker.publish(&h("bob"), msg(1));
    broker.publish(&h("bob"), msg(2));
    for want in [1, 2] {
        let crate::broker::Live::Message(m) = sub.receiver.recv().await.unwrap() else {
            panic!("carried as a wake-up");
        };
        assert_eq!(m.seq, Seq::new(want));
    }
    assert_eq!(broker.stats().dropped.load(Ordering::Relaxed), 1);
}

#[test]
fn the_subject_index_tracks_local_subscribers() {
    let (broker, bridge) = NatsBroker::new("nats://127.0.0.1:1", "kez.lat", 8, LocalBroker::new());
    let token = subject_token("kez.lat", "bob");
    assert_eq!(bridge.index.get(&token), None);
    let s1 = broker.subscribe(&h("bob"));
    let s2 = broker.subscribe(&h("bob"));
    assert_eq!(bridge.index.get(&token), Some(h("bob")));
    drop(s1);
    assert_eq!(bridge.index.get(&token), Some(h("bob")));
    drop(s2);
    assert_eq!(bridge.index.get(&token), None);
}
