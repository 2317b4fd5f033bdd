//! The refused single links of `tests/vectors/sigchain.json`, each with
//! the code of SPEC §15's table.

use kez_chat_server::kez::sigchain::{self, MAX_LINK_BYTES};
use kez_chat_server::kez::time;
use serde_json::{Value, json};

use super::{GIST, NOW, OTHER_SEED, altered, array_forms, key};

#[allow(clippy::needless_pass_by_value)] // call sites read better passing owned links
/// A refused link with the code SPEC §15's table gives it, written here by
/// hand: the generator stops if Rust answers otherwise.
fn invalid_link(name: &str, code: &str, link: Value) -> Value {
    let now = time::strict_utc_seconds(NOW).expect("NOW");
    let got = sigchain::verify_link(&link, Some(now))
        .expect_err(name)
        .code();
    assert_eq!(got, code, "{name}");
    json!({"name": name, "link": link, "code": code})
}

pub(crate) fn invalid_links() -> Vec<Value> {
    let ok = altered(|_| {});
    let env = |f: &dyn Fn(&mut Value)| {
        let mut e = ok.clone();
        f(&mut e);
        e
    };
    let other = key(&OTHER_SEED).1.to_string();
    let mut cases = vec![
        invalid_link(
            "float seq",
            "unsafe_number",
            altered(|p| p["seq"] = json!(2.5)),
        ),
        invalid_link(
            "over 4 KiB",
            "link_too_large",
            altered(|p| p["body"]["claim"]["proof"] = json!("x".repeat(MAX_LINK_BYTES))),
        ),
        invalid_link(
            "extra payload field",
            "invalid_body",
            altered(|p| p["note"] = json!("hi")),
        ),
        invalid_link(
            "prev missing",
            "invalid_body",
            altered(|p| {
                p.as_object_mut().expect("object").remove("prev");
            }),
        ),
        invalid_link(
            "unknown op",
            "invalid_body",
            altered(|p| p["body"] = json!({"op": "rename", "link": "x"})),
        ),
        invalid_link(
            "claim with an extra field",
            "invalid_body",
            altered(|p| p["body"]["claim"]["extra"] = json!(1)),
        ),
        invalid_link(
            "proof tag",
            "wrong_envelope_tag",
            env(&|e| e["kez"] = json!("sigchain_proof")),
        ),
        invalid_link(
            "profile type",
            "wrong_payload_type",
            altered(|p| p["type"] = json!("kez.chat.profile")),
        ),
        invalid_link(
            "version 2",
            "unsupported_version",
            altered(|p| p["version"] = json!(2)),
        ),
        invalid_link(
            "another signature key",
            "key_mismatch",
            env(&|e| e["signature"]["key"] = json!(other)),
        ),
        invalid_link(
            "another algorithm",
            "unsupported_alg",
            env(&|e| e["signature"]["alg"] = json!("ed25519")),
        ),
        invalid_link(
            "malformed primary",
            "invalid_key",
            env(&|e| {
                e["payload"]["primary"] = json!("ed25519:00");
                e["signature"]["key"] = json!("ed25519:00");
            }),
        ),
        invalid_link(
            "payload changed after signing",
            "invalid_signature",
            env(&|e| e["payload"]["body"]["claim"]["name"] = json!("evil.example")),
        ),
        invalid_link("seq 0", "invalid_seq", altered(|p| p["seq"] = json!(0))),
        invalid_link(
            "seq 2 without prev",
            "invalid_prev",
            altered(|p| p["prev"] = Value::Null),
        ),
        invalid_link(
            "seq 1 with prev",
            "invalid_prev",
            altered(|p| p["seq"] = json!(1)),
        ),
        invalid_link(
            "upper-case prev",
            "invalid_prev",
            altered(|p| p["prev"] = json!("AB".repeat(32))),
        ),
        invalid_link(
            "offset timestamp",
            "invalid_timestamp",
            altered(|p| p["created_at"] = json!("2026-05-25T03:01:00+00:00")),
        ),
        invalid_link(
            "stale timestamp",
            "stale_timestamp",
            altered(|p| p["created_at"] = json!("2026-05-25T02:59:59Z")),
        ),
        invalid_link(
            "unknown service",
            "unknown_service",
            altered(|p| p["body"]["claim"]["service"] = json!("mastodon")),
        ),
        invalid_link(
            "github login with a double hyphen",
            "invalid_claim_name",
            altered(|p| {
                p["body"]["claim"] = json!({"service": "github", "name": "a--b", "proof": GIST})
            }),
        ),
        invalid_link(
            "upper-case host",
            "invalid_claim_name",
            altered(
                |p| p["body"]["claim"] = json!({"service": "dns", "name": "Alice.example", "proof": "dns:_kez.Alice.example"}),
            ),
        ),
        invalid_link(
            "single-label host",
            "invalid_claim_name",
            altered(
                |p| p["body"]["claim"] = json!({"service": "https", "name": "localhost", "proof": "https://localhost/.well-known/kez-proof.txt"}),
            ),
        ),
        invalid_link(
            "IPv4 host",
            "invalid_claim_name",
            altered(
                |p| p["body"]["claim"] = json!({"service": "https", "name": "10.0.0.1", "proof": "https://10.0.0.1/.well-known/kez-proof.txt"}),
            ),
        ),
        invalid_link(
            "gist of another login",
            "invalid_proof",
            altered(
                |p| p["body"]["claim"] = json!({"service": "github", "name": "alice-kez", "proof": "https://gist.github.com/bob/0123456789abcdef0123456789abcdef"}),
            ),
        ),
        invalid_link(
            "http proof",
            "invalid_proof",
            altered(
                |p| p["body"]["claim"] = json!({"service": "https", "name": "alice.example", "proof": "http://alice.example/.well-known/kez-proof.txt"}),
            ),
        ),
        invalid_link(
            "dns proof without _kez",
            "invalid_proof",
            altered(|p| {
                p["body"]["claim"] =
                    json!({"service": "dns", "name": "alice.example", "proof": "dns:alice.example"})
            }),
        ),
        invalid_link(
            "revoke of a non-hash",
            "invalid_link_ref",
            altered(|p| p["body"] = json!({"op": "revoke", "link": "first"})),
        ),
        invalid_link(
            "future timestamp",
            "stale_timestamp",
            altered(|p| p["created_at"] = json!("2026-05-25T03:10:01Z")),
        ),
        invalid_link(
            "IPv4 host in WHATWG hex form",
            "invalid_claim_name",
            altered(
                |p| p["body"]["claim"] = json!({"service": "https", "name": "127.0x1", "proof": "https://127.0x1/.well-known/kez-proof.txt"}),
            ),
        ),
        invalid_link(
            "body as an array",
            "invalid_body",
            altered(|p| p["body"] = json!(["add", p["body"]["claim"].clone()])),
        ),
        invalid_link(
            "claim as an array",
            "invalid_body",
            altered(|p| {
                let c = p["body"]["claim"].clone();
                p["body"]["claim"] = json!([c["service"], c["name"], c["proof"]]);
            }),
        ),
    ];
    let fields = [
        "type",
        "version",
        "primary",
        "seq",
        "prev",
        "created_at",
        "body",
    ];
    cases.extend(
        array_forms(&ok, &fields)
            .into_iter()
            .map(|(name, link)| invalid_link(name, "invalid_body", link)),
    );
    cases
}
