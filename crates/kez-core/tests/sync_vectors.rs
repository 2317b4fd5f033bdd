//! `tests/vectors/sync.json` (SPEC §8.7), checked field by field; the web
//! client's Vitest suite reads the same file.

mod common;

use common::{check_sealed_case, load, s};

use kez_core::sync::{parse_body, sync_body};

#[test]
fn snapshot_body_matches() {
    let doc = load("sync.json");
    let b = &doc["bodies"]["blocked_and_muted"];
    let blocked: Vec<&str> = b["blocked"].as_array().unwrap().iter().map(s).collect();
    let muted: Vec<&str> = b["muted"].as_array().unwrap().iter().map(s).collect();
    let body = sync_body(&blocked, &muted);
    assert_eq!(body, s(&b["body"]));
    let snap = parse_body(&body).unwrap();
    assert!(snap.blocked.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn sealed_sync_messages_open_as_stated() {
    let doc = load("sync.json");
    let cases = doc["sealed"].as_array().unwrap();
    assert!(cases.iter().any(|c| c["verdict"] == "ok"));
    assert!(cases.iter().any(|c| c["verdict"] == "malformed_message"));
    for c in cases {
        check_sealed_case(c);
    }
}
