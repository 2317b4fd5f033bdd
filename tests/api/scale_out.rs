//! Scale-out (SPEC §11.2): two instances, as on two machines, sharing one
//! PostgreSQL database and one NATS, each with its own temp dir (same
//! `--server` domain, same sender-key ring as the SPEC asks of replicas).
//! What one instance stores, the other serves; races between them have one
//! winner; seqs stay dense.
//!
//! Runs in both test passes (its database is its own even on SQLite). Needs a
//! real PostgreSQL (`helpers::postgres`) and a real nats-server (`nats.rs`);
//! either missing: SKIPPED, unless required (`KEZ_REQUIRE_POSTGRES=1`,
//! `KEZ_REQUIRE_NATS=1`, both set by `scripts/test`).

use std::collections::HashSet;

use serde_json::Value;

use crate::helpers::*;
use crate::nats::{NatsServer, start_nats, wait_nats_ready};

/// A and B, their NATS and the dir of their shared ring. Bind every field
/// (`Pair { a, b, _nats, _shared }`): a `..` pattern would drop the NATS
/// server at once.
struct Pair {
    a: TestApp,
    b: TestApp,
    _nats: NatsServer,
    _shared: tempfile::TempDir,
}

/// Two instances on one fresh PostgreSQL database and one NATS, both
/// bridged to NATS; `None` when PostgreSQL or nats-server is missing (and
/// not required).
async fn two_instances() -> Option<Pair> {
    let url = postgres::fresh_database_url().await?;
    let nats = start_nats().await?;
    let shared = tempfile::tempdir().unwrap();
    let ring = shared.path().join("sender-keys.json");
    let instance = || {
        let (url, nats_url, ring) = (url.clone(), nats.url.clone(), ring.clone());
        spawn_app_with(move |c| {
            c.database_url = Some(url.parse().unwrap());
            c.database_ca_file = postgres::ca_file();
            c.nats_url = Some(nats_url);
            c.sender_key_file = Some(ring);
        })
    };
    let a = instance().await;
    let b = instance().await;
    assert_ne!(a.config.db, b.config.db, "separate temp dirs");
    wait_nats_ready(&a).await;
    wait_nats_ready(&b).await;
    Some(Pair {
        a,
        b,
        _nats: nats,
        _shared: shared,
    })
}

/// Every message of `handle`'s inbox on `api`, all pages, in the order served.
async fn all_messages(api: &Api, id: &TestIdentity, handle: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut since = 0;
    loop {
        let page = api.poll(id, handle, since).await;
        let msgs = page["messages"].as_array().unwrap().clone();
        let Some(last) = msgs.last() else {
            return all;
        };
        since = last["seq"].as_u64().unwrap();
        all.extend(msgs);
    }
}

#[tokio::test]
async fn a_handle_registered_on_one_instance_is_looked_up_on_the_other() {
    let Some(pair) = two_instances().await else {
        return;
    };
    let (a, b) = (&pair.a, &pair.b);
    // Act
    let alice = a.register(&TestIdentity::generate(), "alice").await;
    let bob = b.register(&TestIdentity::generate(), "bob").await;

    // Assert: each record is served, the same, by the other instance.
    for (api, handle, created) in [(&b.api, "alice", &alice), (&a.api, "bob", &bob)] {
        let res = api.get(&format!("/v1/u/{handle}")).await;
        assert_eq!(res.status(), 200, "{handle} on the other instance");
        assert_eq!(&res.json::<Value>().await.unwrap(), created);
    }
}

#[tokio::test]
async fn a_stream_on_one_instance_gets_what_is_posted_on_the_other_in_order_once() {
    let Some(pair) = two_instances().await else {
        return;
    };
    let (a, b) = (&pair.a, &pair.b);
    let bob = b.user("bob").await;
    let alice = a.user("alice").await;
    // bob streams from A and is written to on B; alice the other way round.
    for (stream_on, post_on, who, handle) in [(&a, &b, &bob, "bob"), (&b, &a, &alice, "alice")] {
        let mut stream = stream_on.open_stream(who, handle, None).await;
        // Act
        let mut ids = Vec::new();
        for i in 0..5 {
            let id = random_id();
            let body = message_body(handle, &id, &format!("m{i}"));
            assert_eq!(post_on.post_json("/v1/messages", &body).await.status(), 201);
            ids.push(id);
        }
        assert_eq!(post_on.send(handle, "last").await.status(), 201);

        // Assert: in order, each once (the next after them is "last").
        for (i, id) in ids.iter().enumerate() {
            let m = next_message(&mut stream).await;
            assert_eq!(
                (m["seq"].as_u64(), m["id"].as_str()),
                (Some(i as u64 + 1), Some(id.as_str())),
                "{handle}'s stream on the other instance"
            );
            assert_eq!(m["envelope"]["ct"], format!("m{i}"));
        }
        let m = next_message(&mut stream).await;
        assert_eq!(
            (m["seq"].as_u64(), m["envelope"]["ct"].as_str()),
            (Some(6), Some("last"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_through_both_instances_get_dense_seqs() {
    let Some(pair) = two_instances().await else {
        return;
    };
    let (a, b) = (&pair.a, &pair.b);
    let bob = a.user("bob").await;
    // Act: 200 posts at once, 100 through A and 100 through B.
    let bodies: Vec<Value> = (0..200)
        .map(|i| message_body("bob", &random_id(), &format!("p{i}")))
        .collect();
    let posts = bodies.iter().enumerate().map(|(i, body)| {
        let api = if i % 2 == 0 { &a } else { &b };
        async move {
            let res = api.post_json("/v1/messages", body).await;
            let status = res.status();
            let answer: Value = res.json().await.unwrap();
            assert_eq!(status, 201, "post {i}: {answer}");
            answer["seq"].as_u64().unwrap()
        }
    });
    let mut seqs = futures_util::future::join_all(posts).await;

    // Assert: the seqs handed out are exactly 1..=200.
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<u64>>());
    let posted: HashSet<&str> = bodies.iter().map(|b| b["id"].as_str().unwrap()).collect();
    for (name, api) in [("A", &a), ("B", &b)] {
        let msgs = all_messages(api, &bob, "bob").await;
        let served: Vec<u64> = msgs.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
        assert_eq!(served, (1..=200).collect::<Vec<u64>>(), "poll on {name}");
        let ids: HashSet<&str> = msgs.iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(ids, posted, "poll on {name}: the posted ids, each once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_handle_registered_on_both_instances_at_once_has_one_winner() {
    let Some(pair) = two_instances().await else {
        return;
    };
    let (a, b) = (&pair.a, &pair.b);
    for round in 0..10 {
        let handle = format!("contested{round}");
        let (on_a, on_b) = (TestIdentity::generate(), TestIdentity::generate());
        let (body_a, body_b) = (
            on_a.registration(&handle, SERVER),
            on_b.registration(&handle, SERVER),
        );
        // Act
        let (res_a, res_b) = tokio::join!(
            a.post_json("/v1/register", &body_a),
            b.post_json("/v1/register", &body_b)
        );

        // Assert: one 201, one 409 handle_taken; both serve the winner.
        let (winner, loser) = match (res_a.status().as_u16(), res_b.status().as_u16()) {
            (201, _) => (&on_a, res_b),
            (_, 201) => (&on_b, res_a),
            (sa, sb) => panic!("{handle}: no winner: A {sa}, B {sb}"),
        };
        assert_error(loser, 409, "handle_taken").await;
        for api in [&a, &b] {
            let record: Value = api
                .get(&format!("/v1/u/{handle}"))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(record["primary"], winner.primary(), "{handle}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_retried_on_the_other_instance_keeps_its_seq() {
    let Some(pair) = two_instances().await else {
        return;
    };
    let (a, b) = (&pair.a, &pair.b);
    let bob = a.user("bob").await;
    assert_eq!(a.send("bob", "before").await.status(), 201);

    // Act: stored through A, retried through B.
    let body = message_body("bob", &random_id(), "once");
    let first = a.post_json("/v1/messages", &body).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let retry = b.post_json("/v1/messages", &body).await;

    // Assert: the answer of the first post again, seq 2; stored once.
    assert_eq!(retry.status(), 200);
    assert_eq!(retry.json::<Value>().await.unwrap(), first);
    assert_eq!(first["seq"], 2);

    // Act: the same id through both at once.
    let body = message_body("bob", &random_id(), "raced");
    let (on_a, on_b) = tokio::join!(
        a.post_json("/v1/messages", &body),
        b.post_json("/v1/messages", &body)
    );
    let mut statuses = [on_a.status().as_u16(), on_b.status().as_u16()];
    let (on_a, on_b): (Value, Value) = (on_a.json().await.unwrap(), on_b.json().await.unwrap());

    // Assert: stored once (201 and 200), one seq, 3.
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 201], "A: {on_a}, B: {on_b}");
    assert_eq!(on_a, on_b);
    assert_eq!(on_a["seq"], 3);
    for api in [&a, &b] {
        let seqs: Vec<u64> = all_messages(api, &bob, "bob")
            .await
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
    }
}
