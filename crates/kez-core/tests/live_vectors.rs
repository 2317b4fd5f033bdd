//! `tests/vectors/live.json` (SPEC §8.6), checked field by field; the web
//! client's Vitest suite reads the same file.

mod common;

use common::{check_sealed_case, load, s};

use kez_core::live::{TypingState, typing_body};

#[test]
fn typing_bodies_match() {
    let doc = load("live.json");
    assert_eq!(
        s(&doc["typing_bodies"]["active"]),
        typing_body(TypingState::Active)
    );
    assert_eq!(
        s(&doc["typing_bodies"]["paused"]),
        typing_body(TypingState::Paused)
    );
}

#[test]
fn sealed_read_and_typing_messages_open_as_stated() {
    let doc = load("live.json");
    let cases = doc["sealed"].as_array().unwrap();
    assert!(cases.iter().any(|c| c["verdict"] == "ok"));
    assert!(cases.iter().any(|c| c["verdict"] == "malformed_message"));
    for c in cases {
        check_sealed_case(c);
    }
}
