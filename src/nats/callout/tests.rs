//! `Authorizer::authorize` on requests nats-server 2.15.1 really sent
//! (tests/data/nats-callout/), and on tampered, foreign and garbage ones:
//! every one gets a signed response, never a panic.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha512_256};

use super::*;
use crate::nats::fanout::inbox_subject;
use std::sync::atomic::Ordering;

const NKEY_REQUEST: &str = include_str!("../../../tests/data/nats-callout/request-nkey.jwt");
const TOKEN_REQUEST: &str = include_str!("../../../tests/data/nats-callout/request-token.jwt");
/// The KEZ seed of the client in `NKEY_REQUEST`.
const CLIENT_SEED: &str = "d966899f605e043d291fa6cb30ae9e5f3536f8a000e1e6b6967a256bf101eef0";
const TOKEN: &str = "instance-token-for-tests-0123456789";
/// `iat` of both captured requests.
const IAT: i64 = 1_796_020_502;
const DOMAIN: &str = "kez.test";

struct Map(HashMap<String, Handle>);

impl Directory for Map {
    async fn handle_of(&self, id: Identity) -> Option<Handle> {
        self.0.get(&id.hex()).cloned()
    }
}

fn client_identity() -> Identity {
    let seed: [u8; 32] = hex::decode(CLIENT_SEED).unwrap().try_into().unwrap();
    let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
    Identity::from_bytes(sk.verifying_key().as_bytes()).unwrap()
}

fn with_bob() -> Map {
    let handle = Handle::parse("bob").unwrap();
    Map(HashMap::from([(client_identity().hex(), handle)]))
}

/// The tests' issuer account key (fixed, so requests can name it in `sub`).
fn issuer() -> nkeys::KeyPair {
    nkeys::KeyPair::new_from_raw(nkeys::KeyPairType::Account, [7; 32]).unwrap()
}

/// A captured request as nats-server would send it to [`issuer`]: `sub` =
/// the issuer, re-signed by a new server key (see [`resigned`]).
fn ours(request: &str) -> String {
    resigned(request, |_| {})
}

fn authorizer() -> (Authorizer, nkeys::KeyPair) {
    let issuer = issuer();
    let a = Authorizer::new(&issuer.seed().unwrap(), "APP", TOKEN, DOMAIN, 3600)
        .unwrap()
        .with_identities(Some("IDENTITIES"));
    (a, issuer)
}

/// The claims of a JWT, after checking its header and its signature by `iss`.
fn open(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header, json!({"typ": "JWT", "alg": "ed25519-nkey"}));
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let iss = nkeys::KeyPair::from_public_key(claims["iss"].as_str().unwrap()).unwrap();
    iss.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("signed by its iss");
    claims
}

fn claims_of(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// `request`'s claims changed by `edit`, signed by a new server key that
/// also becomes `server_id.id`, addressed (`sub`) to [`issuer`].
fn resigned(request: &str, edit: impl FnOnce(&mut Value)) -> String {
    let server = nkeys::KeyPair::new_server();
    let mut c = claims_of(request);
    c["sub"] = json!(issuer().public_key());
    c["iss"] = json!(server.public_key());
    c["nats"]["server_id"]["id"] = json!(server.public_key());
    edit(&mut c);
    jwt::encode(&server, c)
}

async fn refusal(request: &[u8], dir: &Map) -> (RequestError, Value) {
    let (a, issuer) = authorizer();
    let (response, outcome) = a.authorize(request, IAT, dir).await;
    let Outcome::Refused(why) = outcome else {
        panic!("admitted: {outcome:?}");
    };
    let r = open(&response);
    assert_eq!(r["iss"], issuer.public_key());
    assert_eq!(r["nats"]["type"], "authorization_response");
    assert_eq!(r["nats"]["error"], why.to_string());
    assert!(r["nats"].get("jwt").is_none());
    (why, r)
}

#[tokio::test]
async fn a_registered_identity_may_only_subscribe_to_its_inbox() {
    let (a, issuer) = authorizer();
    let req = ours(NKEY_REQUEST);
    let (response, outcome) = a.authorize(req.as_bytes(), IAT, &with_bob()).await;

    assert_eq!(outcome, Outcome::Identity);
    let request = claims_of(&req);
    let r = open(&response);
    assert_eq!(r["sub"], request["nats"]["user_nkey"]);
    assert_eq!(r["aud"], request["nats"]["server_id"]["id"]);
    assert!(r["nats"].get("error").is_none());
    let user = open(r["nats"]["jwt"].as_str().unwrap());
    assert_eq!(user["iss"], issuer.public_key());
    assert_eq!(user["sub"], request["nats"]["user_nkey"]);
    assert_eq!(
        (user["aud"].as_str(), user["name"].as_str()),
        (Some("IDENTITIES"), Some("kez-identity"))
    );
    assert_eq!(
        user["nats"]["allowed_connection_types"],
        json!(["STANDARD", "WEBSOCKET"])
    );
    assert_eq!(
        (user["iat"].as_i64(), user["exp"].as_i64()),
        (Some(IAT), Some(IAT + 3600))
    );
    assert_eq!(user["nats"]["pub"], json!({"deny": [">"]}));
    assert_eq!(
        user["nats"]["sub"],
        json!({"allow": [inbox_subject(DOMAIN, "bob")]})
    );
    assert_eq!(user["nats"]["subs"], IDENTITY_MAX_SUBS);
    assert_eq!(
        (
            user["nats"]["type"].as_str(),
            user["nats"]["version"].as_i64()
        ),
        (Some("user"), Some(2))
    );
    // jti: base32 of SHA-512/256 over the claims without it (jwt.go).
    let mut without = user;
    let jti = without.as_object_mut().unwrap().remove("jti").unwrap();
    let digest = Sha512_256::digest(without.to_string().as_bytes());
    assert_eq!(jti, data_encoding::BASE32_NOPAD.encode(&digest));
}

#[tokio::test]
async fn the_instance_token_admits_to_every_inbox_subject() {
    let (a, _) = authorizer();
    let (response, outcome) = a
        .authorize(ours(TOKEN_REQUEST).as_bytes(), IAT, &with_bob())
        .await;

    assert_eq!(outcome, Outcome::Instance);
    let user = open(open(&response)["nats"]["jwt"].as_str().unwrap());
    let inboxes = json!({"allow": ["kez.chat.inbox.>"]});
    assert_eq!(
        (&user["nats"]["pub"], &user["nats"]["sub"]),
        (&inboxes, &inboxes)
    );
    assert_eq!(user["name"], "kez-instance");
    assert_eq!(user["aud"], "APP");
    assert_eq!(
        user["nats"]["allowed_connection_types"],
        json!(["STANDARD"])
    );
}

#[tokio::test]
async fn wrong_credentials_are_refused() {
    let wrong_token = resigned(TOKEN_REQUEST, |c| {
        c["nats"]["connect_opts"]["auth_token"] = json!("instance-token-for-tests-012345678");
    });
    let other_nonce = resigned(NKEY_REQUEST, |c| {
        c["nats"]["client_info"]["nonce"] = json!("AAAA")
    });
    let no_nonce = resigned(NKEY_REQUEST, |c| {
        c["nats"]["client_info"]["nonce"] = json!("")
    });
    let unknown = ours(NKEY_REQUEST);
    let nothing = resigned(TOKEN_REQUEST, |c| {
        c["nats"]["connect_opts"] = json!({"user": "x", "pass": "y"})
    });
    let cases = [
        (wrong_token.as_bytes(), with_bob(), RequestError::BadToken),
        (
            other_nonce.as_bytes(),
            with_bob(),
            RequestError::BadNonceSignature,
        ),
        (
            no_nonce.as_bytes(),
            with_bob(),
            RequestError::BadNonceSignature,
        ),
        (
            unknown.as_bytes(),
            Map(HashMap::new()),
            RequestError::UnknownIdentity,
        ),
        (nothing.as_bytes(), with_bob(), RequestError::NoCredentials),
    ];
    for (request, dir, want) in cases {
        assert_eq!(refusal(request, &dir).await.0, want);
    }
}

#[tokio::test]
async fn a_request_must_be_signed_by_the_server_and_meant_for_a_callout() {
    let parts: Vec<&str> = NKEY_REQUEST.trim().split('.').collect();
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[0] ^= 1;
    let bad_sig = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(&sig));
    let tampered = {
        let mut c = claims_of(NKEY_REQUEST);
        c["nats"]["connect_opts"]["auth_token"] = json!(TOKEN);
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(c.to_string()),
            parts[2]
        )
    };
    let other_server = resigned(NKEY_REQUEST, |c| {
        c["nats"]["server_id"]["id"] = json!("NOTHER")
    });
    let wrong_aud = resigned(NKEY_REQUEST, |c| {
        c["aud"] = json!("nats-authorization-response")
    });
    let wrong_type = resigned(NKEY_REQUEST, |c| c["nats"]["type"] = json!("user"));
    let expired = resigned(NKEY_REQUEST, |c| c["exp"] = json!(IAT - 60));
    let no_exp = resigned(NKEY_REQUEST, |c| {
        c.as_object_mut().unwrap().remove("exp");
    });
    let no_user = resigned(NKEY_REQUEST, |c| c["nats"]["user_nkey"] = json!("ABC"));
    let other_issuer = resigned(NKEY_REQUEST, |c| {
        c["sub"] = json!(nkeys::KeyPair::new_account().public_key());
    });
    let cases = [
        (bad_sig, RequestError::BadSignature),
        (tampered, RequestError::BadSignature),
        (other_server, RequestError::BadSignature),
        (wrong_aud, RequestError::WrongAudience),
        (wrong_type, RequestError::WrongAudience),
        (expired, RequestError::Expired),
        (no_exp, RequestError::Expired),
        (no_user, RequestError::NoUserNkey),
        (other_issuer, RequestError::WrongIssuer),
    ];
    for (request, want) in cases {
        let (why, response) = refusal(request.as_bytes(), &with_bob()).await;
        assert_eq!(why, want, "{request}");
        // Still addressed to the connection, so the server reads the refusal.
        assert_eq!(response["sub"], claims_of(&request)["nats"]["user_nkey"]);
    }
    // A re-signed request left as it was is accepted: the edits made the difference.
    let fine = resigned(NKEY_REQUEST, |_| {});
    let (a, _) = authorizer();
    assert_eq!(
        a.authorize(fine.as_bytes(), IAT, &with_bob()).await.1,
        Outcome::Identity
    );
}

#[tokio::test]
async fn oversize_and_garbage_get_an_error_response_not_a_panic() {
    let oversize = resigned(NKEY_REQUEST, |c| {
        c["pad"] = json!("x".repeat(MAX_REQUEST_BYTES))
    });
    let alg_none = {
        let rest = NKEY_REQUEST.trim().split_once('.').unwrap().1;
        format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"none"}"#)
        )
    };
    let not_json = format!("{0}.{0}.{0}", URL_SAFE_NO_PAD.encode("not json"));
    let garbage: [(&[u8], RequestError); 9] = [
        (oversize.as_bytes(), RequestError::TooLarge),
        (alg_none.as_bytes(), RequestError::BadAlgorithm),
        (b"", RequestError::Malformed),
        (b"....", RequestError::Malformed),
        (b"a.b", RequestError::Malformed),
        (b"e30.e30.!!", RequestError::Malformed),
        (b"\xff\xfe.\x00.\x80", RequestError::Malformed),
        (not_json.as_bytes(), RequestError::Malformed),
        // Valid JSON of the wrong shape everywhere: no alg, so Malformed.
        (b"e30.e30.e30", RequestError::Malformed),
    ];
    for (request, want) in garbage {
        assert_eq!(refusal(request, &with_bob()).await.0, want);
    }
}

#[test]
fn the_issuer_must_be_an_account_seed_and_the_token_not_empty() {
    let user = nkeys::KeyPair::new_user().seed().unwrap();
    let account = nkeys::KeyPair::new_account().seed().unwrap();
    assert!(Authorizer::new(&user, "APP", TOKEN, DOMAIN, 60).is_err());
    assert!(Authorizer::new("SAnotaseed", "APP", TOKEN, DOMAIN, 60).is_err());
    assert!(Authorizer::new(&account, "APP", "", DOMAIN, 60).is_err());
    let a = Authorizer::new(&format!("{account}\n"), "APP", TOKEN, DOMAIN, 60).unwrap();
    assert!(a.issuer_public_key().starts_with('A'));
}

/// Off by default (`--nats-callout-identities`): a registered key's valid
/// nonce signature is refused without a lookup, and counted by reason.
#[tokio::test]
async fn identities_are_refused_unless_turned_on() {
    let a = Authorizer::new(&issuer().seed().unwrap(), "APP", TOKEN, DOMAIN, 3600).unwrap();
    let req = ours(NKEY_REQUEST);
    let (response, outcome) = a.authorize(req.as_bytes(), IAT, &with_bob()).await;
    assert_eq!(outcome, Outcome::Refused(RequestError::IdentitiesOff));
    assert_eq!(
        open(&response)["nats"]["error"],
        "identities are not admitted"
    );
    let (_, outcome) = a
        .authorize(ours(TOKEN_REQUEST).as_bytes(), IAT, &with_bob())
        .await;
    assert_eq!(outcome, Outcome::Instance);

    let d = Decisions::default();
    d.count(Outcome::Refused(RequestError::IdentitiesOff));
    d.count(Outcome::Refused(RequestError::BadToken));
    d.count(Outcome::Refused(RequestError::BadToken));
    assert_eq!(d.refused_for(RequestError::BadToken), 2);
    assert_eq!(d.refused_for(RequestError::IdentitiesOff), 1);
    assert_eq!(d.refused.load(Ordering::Relaxed), 3);
    let labels: std::collections::HashSet<_> =
        RequestError::ALL.iter().map(|r| r.label()).collect();
    assert_eq!(labels.len(), RequestError::ALL.len());
}

/// A directory that never answers (a database reader that never frees up).
struct Stuck;

impl Directory for Stuck {
    async fn handle_of(&self, _: Identity) -> Option<Handle> {
        std::future::pending().await
    }
}

/// A lookup that hangs is answered "busy" once the limit passes, addressed
/// to the connection, so nats-server refuses the client before its own
/// `auth_timeout` instead of waiting it out; the token path needs no lookup.
#[tokio::test]
async fn a_stuck_lookup_is_answered_busy_within_the_limit() {
    let (a, _) = authorizer();
    // The lookup never ends, so the outcome does not depend on the limit.
    let limit = std::time::Duration::from_millis(20);
    let (response, outcome) = a
        .authorize_within(ours(NKEY_REQUEST).as_bytes(), IAT, &Stuck, limit)
        .await;
    assert_eq!(outcome, Outcome::Refused(RequestError::Busy));
    let r = open(&response);
    assert_eq!(r["nats"]["error"], "auth callout busy");
    assert_eq!(r["sub"], claims_of(NKEY_REQUEST)["nats"]["user_nkey"]);
    let (_, outcome) = a
        .authorize_within(ours(TOKEN_REQUEST).as_bytes(), IAT, &Stuck, limit)
        .await;
    assert_eq!(outcome, Outcome::Instance);
}
