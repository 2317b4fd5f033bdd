use ed25519_dalek::SigningKey;

use super::fetch::{base_url, txt_bytes};
use super::*;
use crate::kez::json;
use crate::kez::sigchain::{MAX_LINK_BYTES, proof_payload, sign_proof};

fn key(seed: u8) -> (SigningKey, Identity) {
    let sk = SigningKey::from_bytes(&[seed; 32]);
    let id = Identity::parse(&format!(
        "ed25519:{}",
        hex::encode(sk.verifying_key().as_bytes())
    ))
    .unwrap();
    (sk, id)
}

fn dns_claim(name: &str) -> Claim {
    Claim::parse("dns", name, &format!("dns:_kez.{name}")).unwrap()
}

fn statement(sk: &SigningKey, id: &Identity, claim: &Claim) -> Vec<u8> {
    let env = sign_proof(sk, &proof_payload(id, claim, "2026-05-25T03:00:00Z"));
    json::canonical_bytes(&env)
}

#[test]
fn a_statement_proves_its_claim_and_nothing_else() {
    let (sk, alice) = key(1);
    let (_, bob) = key(2);
    let claim = dns_claim("alice.example");
    let good = statement(&sk, &alice, &claim);
    let padded = [b"\n ".as_slice(), &good, b"\r\n"].concat();

    assert_eq!(judge(&good, &alice, &claim), Ok(()));
    assert_eq!(
        judge(&padded, &alice, &claim),
        Ok(()),
        "whitespace around is ignored"
    );
    assert_eq!(judge(&good, &bob, &claim).unwrap_err().reason, "wrong_key");
    let other = dns_claim("other.example");
    assert_eq!(
        judge(&good, &alice, &other).unwrap_err().reason,
        "wrong_claim"
    );
    let github = Claim::parse(
        "github",
        "alice",
        "https://gist.github.com/alice/0123456789abcdef0123",
    )
    .unwrap();
    assert_eq!(
        judge(&good, &alice, &github).unwrap_err().reason,
        "wrong_claim"
    );
}

#[test]
fn bad_statements_carry_the_kez_core_code() {
    let (sk, alice) = key(1);
    let claim = dns_claim("alice.example");
    let mut tampered: serde_json::Value =
        serde_json::from_slice(&statement(&sk, &alice, &claim)).unwrap();
    tampered["payload"]["name"] = "mallory.example".into();
    let cases: [(&[u8], &str); 4] = [
        (b"not json", "invalid_json"),
        (br#"{"a":1,"a":2}"#, "invalid_json"),
        (br#"{"kez":1.5}"#, "unsafe_number"),
        (&json::canonical_bytes(&tampered), "invalid_signature"),
    ];
    for (bytes, code) in cases {
        let f = judge(bytes, &alice, &claim).unwrap_err();
        assert_eq!((f.reason.as_str(), f.detail), ("bad_statement", Some(code)));
    }
    let big = vec![b' '; MAX_LINK_BYTES + 1];
    assert_eq!(judge(&big, &alice, &claim).unwrap_err().reason, "too_large");
}

#[test]
fn txt_data_is_unquoted_and_joined_in_order() {
    assert_eq!(txt_bytes(r#""ab" "cd""#).unwrap(), b"abcd");
    assert_eq!(txt_bytes(r#""{\"k\":1}""#).unwrap(), br#"{"k":1}"#);
    assert_eq!(txt_bytes(r#""a\\b\065""#).unwrap(), b"a\\bA");
    assert_eq!(txt_bytes("plain joined").unwrap(), b"plain joined");
    assert_eq!(txt_bytes(r#""open"#), None);
    assert_eq!(txt_bytes(r#""a" x"#), None);
}

#[tokio::test]
async fn a_chain_check_outlives_its_request_then_leaves_the_map() {
    // Arrange
    let checker = ProofChecker::new(&crate::config::Config::defaults().proofs).unwrap();
    let (_, alice) = key(1);
    let claims: Claims = Arc::new(vec![("h1".to_owned(), dns_claim("alice.example"))]);
    checker.0.verdicts.put(&view_of("h1", &claims[0].1, Ok(())));

    // Act: the request spawns the check, then is abandoned before it ran.
    let mut waiting = Box::pin(checker.check_chain(&alice, "\"1-h1\"", Arc::clone(&claims), false));
    assert!(futures_util::poll!(waiting.as_mut()).is_pending());
    assert_eq!(checker.0.flights.len(), 1, "one check running");
    drop(waiting);
    for _ in 0..100 {
        if checker.0.flights.len() == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }

    // Assert: the check ran to its end on its own and removed its entry.
    assert_eq!(checker.0.flights.len(), 0);
    let again = checker
        .check_chain(&alice, "\"1-h1\"", claims, false)
        .await
        .unwrap();
    assert_eq!(again[0].status, Status::Verified);
}

#[tokio::test]
async fn busy_is_not_cached() {
    // Arrange: the only slot held, so the check cannot get one.
    let mut c = crate::config::Config::defaults().proofs;
    (c.proof_checks_in_flight, c.proof_timeout_ms) = (1, 1);
    let checker = ProofChecker::new(&c).unwrap();
    let _held = checker.0.slots.acquire().await.unwrap();
    let (_, alice) = key(1);
    let claims: Claims = Arc::new(vec![("h1".to_owned(), dns_claim("alice.example"))]);

    // Act
    let v = checker
        .check_chain(&alice, "\"1-h1\"", claims, false)
        .await
        .unwrap();

    // Assert
    assert_eq!(
        (v[0].status, v[0].reason.as_str()),
        (Status::Unreachable, "busy")
    );
    assert!(
        checker.0.verdicts.get("h1").is_none(),
        "asked again next time"
    );
}

#[test]
fn the_verdict_cache_holds_at_most_max_cached() {
    let checker = ProofChecker::new(&crate::config::Config::defaults().proofs).unwrap();
    let claim = dns_claim("alice.example");
    for i in 0..=MAX_CACHED {
        checker
            .0
            .verdicts
            .put(&view_of(&format!("h{i}"), &claim, Ok(())));
    }
    assert_eq!(checker.0.verdicts.len(), MAX_CACHED);
    assert!(
        checker.0.verdicts.get(&format!("h{MAX_CACHED}")).is_some(),
        "the newest kept"
    );
    assert!(
        checker.0.verdicts.get("h0").is_none(),
        "the first to expire dropped"
    );
}

#[test]
fn api_and_doh_bases_must_be_https_unless_the_test_switch_is_on() {
    assert!(base_url("https://api.github.com", false, "--github-api-url").is_ok());
    assert!(base_url("http://127.0.0.1:1", true, "--doh-url").is_ok());
    let err = base_url("http://api.github.com", false, "--github-api-url").unwrap_err();
    assert_eq!(err.to_string(), "--github-api-url must be an https URL");
    assert!(base_url("api.github.com", false, "--doh-url").is_err());
    let err = base_url("https://127.0.0.1:8443/dns-query", false, "--doh-url").unwrap_err();
    assert_eq!(
        err.to_string(),
        "--doh-url must not name a non-public address"
    );
    assert!(base_url("https://[::1]/", false, "--github-api-url").is_err());
    assert!(base_url("https://1.1.1.1/dns-query", false, "--doh-url").is_ok());
}

#[test]
fn the_raw_host_is_bare_and_the_test_origin_needs_the_switch() {
    use super::fetch::bare_host;
    assert_eq!(
        bare_host("Gist.GitHubUserContent.com").unwrap(),
        "gist.githubusercontent.com"
    );
    assert!(bare_host("127.0.0.1").is_ok());
    for bad in [
        "https://gist.githubusercontent.com",
        "gist.githubusercontent.com:443",
        "",
    ] {
        assert!(bare_host(bad).is_err(), "{bad}");
    }
    let mut c = crate::config::Config::defaults().proofs;
    c.proof_https_test_origin = Some("http://127.0.0.1:1".to_owned());
    let err = ProofChecker::new(&c).err().unwrap();
    assert_eq!(
        err.to_string(),
        "--proof-https-test-origin needs --allow-insecure-proof-fetches"
    );
    c.allow_insecure_proof_fetches = true;
    assert!(ProofChecker::new(&c).is_ok());
}

#[test]
fn a_github_token_file_holds_one_token_and_its_value_is_never_printed() {
    use super::fetch::token;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    std::fs::write(&path, " ghp_secret\n").unwrap();
    let v = token(&path).unwrap();
    assert_eq!(v.as_bytes(), b"Bearer ghp_secret");
    assert!(!format!("{v:?}").contains("secret"));
    for bad in ["", "two words", &"x".repeat(1025)] {
        std::fs::write(&path, bad).unwrap();
        let err = token(&path).unwrap_err().to_string();
        assert!(err.starts_with("--github-token-file"), "{err}");
        assert!(bad.is_empty() || !err.contains(bad));
    }
    assert!(token(&dir.path().join("missing")).is_err());
}

#[tokio::test]
async fn past_max_flights_no_check_starts() {
    let flights = super::flight::Flights::default();
    for i in 0..super::MAX_FLIGHTS {
        assert!(
            flights
                .join_or_start(&format!("k{i}"), std::future::pending())
                .is_some()
        );
    }
    assert!(
        flights
            .join_or_start("k0", std::future::pending())
            .is_some(),
        "joins"
    );
    assert!(
        flights
            .join_or_start("new", std::future::pending())
            .is_none()
    );
    assert_eq!(flights.len(), super::MAX_FLIGHTS);
}

#[test]
fn no_cache_is_read_as_a_directive_of_cache_control() {
    use axum::http::HeaderMap;
    let with = |v: &str| {
        let mut h = HeaderMap::new();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        asks_no_cache(&h)
    };
    assert!(with("no-cache"));
    assert!(with("max-age=0, No-Cache"));
    assert!(with("no-cache=\"set-cookie\""));
    assert!(!with("no-store"));
    assert!(!with("max-age=0"));
    assert!(!with("x-no-cache"));
    assert!(!asks_no_cache(&HeaderMap::new()));
}

#[test]
fn only_an_old_enough_unverified_verdict_is_forgotten() {
    let verdicts = cache::Verdicts::default();
    let claim = dns_claim("alice.example");
    verdicts.put(&view_of("ok", &claim, Ok(())));
    verdicts.put(&view_of("bad", &claim, Err(Fail::failed("not_found"))));

    verdicts.forget_unverified("bad", Duration::from_secs(30));
    verdicts.forget_unverified("ok", Duration::ZERO);
    assert!(verdicts.get("bad").is_some(), "too recent to check again");
    assert!(verdicts.get("ok").is_some(), "verified stays");

    verdicts.forget_unverified("bad", Duration::ZERO);
    assert!(verdicts.get("bad").is_none());
}

#[test]
fn metric_reasons_come_from_a_fixed_set() {
    use super::stats::reason_label;
    assert_eq!(reason_label("connect_error"), "connect_error");
    assert_eq!(reason_label("ok"), "ok");
    assert_eq!(reason_label("http_503"), "http_5xx");
    assert_eq!(reason_label("http_404"), "http_4xx");
    assert_eq!(reason_label("http_301"), "http_3xx");
    assert_eq!(reason_label("http_"), "other");
    assert_eq!(reason_label("alice.example"), "other");
}
