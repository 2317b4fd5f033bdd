//! nostr listener benchmark: prints figures, asserts nothing about speed.
//!
//! A real relay (PyPI `nostr-relay` 1.14 from `NOSTR_RELAY_BIN` or
//! `.venv-nostr/`), the real server listening on it with 10,000 registered
//! handles (`KEZ_BENCH_NOSTR_HANDLES`), and 2,000 message events
//! (`KEZ_BENCH_NOSTR_EVENTS`) to random handles: how fast they are published
//! and how fast they turn into pushes (`nostr_events_accepted`). The relay, a
//! single Python worker, is usually the bottleneck.
//!
//! `cargo bench --bench nostr`.

#[path = "../tests/api/helpers/nostr_relay.rs"]
#[allow(dead_code, unreachable_pub)]
mod nostr_relay;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use kez_chat_server::config::{Config, parse_relays};
use kez_chat_server::kez::{Identity, json, nostr as kez_nostr};
use kez_chat_server::server;
use nostr_sdk::prelude::*;
use serde_json::json;

const SERVER: &str = "bench.test";
/// An envelope v2 by its outer shape (§8), which is all the listener checks.
const ENVELOPE: &str = concat!(
    r#"{"ct":"AAAA","epk":""#,
    "0000000000000000000000000000000000000000000000000000000000000000",
    r#"","nonce":"000000000000000000000000","v":2}"#
);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A registration envelope for a fresh key; returns it and the key's addr.
fn registration(i: usize) -> (serde_json::Value, String) {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("rng");
    let sk = SigningKey::from_bytes(&seed);
    let primary = format!("ed25519:{}", hex::encode(sk.verifying_key().as_bytes()));
    let payload = json!({"type": "kez.chat.handle_registration", "version": 1,
        "handle": format!("user{i:05}"), "primary": primary, "server": SERVER,
        "created_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)});
    let sig = hex::encode(sk.sign(&json::canonical_bytes(&payload)).to_bytes());
    let addr = kez_nostr::addr(&Identity::parse(&primary).expect("primary"));
    let body = json!({"kez": "handle_registration", "payload": payload,
           "signature": {"alg": "ed25519-sha512-jcs", "key": primary, "sig": sig}});
    (body, addr)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let handles = env_or("KEZ_BENCH_NOSTR_HANDLES", 10_000);
    let n_events = env_or("KEZ_BENCH_NOSTR_EVENTS", 2_000);
    let Some(relay) = nostr_relay::NostrRelay::start().await else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let mut config = Config::defaults();
    config.bind = "127.0.0.1:0".parse()?;
    config.db = dir.path().join("bench.db");
    config.server = SERVER.to_owned();
    config.register_rate_per_minute = u32::MAX;
    config.max_connections_per_ip = usize::MAX;
    config.min_free_disk_mb = 0;
    config.nostr_relays = parse_relays(&relay.url()).map_err(anyhow::Error::msg)?;
    let running = server::start(config).await?;
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();

    let started = Instant::now();
    let mut addrs = Vec::with_capacity(handles);
    for chunk in (0..handles).collect::<Vec<_>>().chunks(100) {
        let regs = chunk.iter().map(|&i| {
            let (body, addr) = registration(i);
            addrs.push(addr);
            client
                .post(format!("{base}/v1/register"))
                .json(&body)
                .send()
        });
        for r in futures_util::future::join_all(regs.collect::<Vec<_>>()).await {
            anyhow::ensure!(r?.status() == 201, "registration failed");
        }
    }
    println!("registered {handles} handles in {:.1?}", started.elapsed());
    let stats = running.state.nostr.clone().expect("listener").stats;
    // Let the listener subscribe every shard (a re-sync follows registrations).
    tokio::time::sleep(Duration::from_secs(3)).await;

    let events: Vec<Event> = (0..n_events)
        .map(|i| {
            EventBuilder::new(Kind::from(kez_nostr::KIND_MESSAGE), ENVELOPE)
                .tag(Tag::custom(
                    TagKind::SingleLetter(SingleLetterTag::lowercase(Alphabet::Q)),
                    [addrs[(i * 7919) % addrs.len()].as_str()],
                ))
                .sign_with_keys(&Keys::generate())
                .expect("sign")
        })
        .collect();
    let publisher = Client::default();
    publisher.add_relay(relay.url()).await?;
    publisher.connect().await;
    publisher.wait_for_connection(Duration::from_secs(10)).await;
    let started = Instant::now();
    // 100 in flight at a time: the relay, not our round trips, sets the pace.
    for chunk in events.chunks(100) {
        for sent in
            futures_util::future::join_all(chunk.iter().map(|e| publisher.send_event(e))).await
        {
            sent?;
        }
    }
    let published = started.elapsed();
    let want = u64::try_from(n_events)?;
    while stats.accepted.load(Ordering::Relaxed) < want
        && started.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let done = started.elapsed();
    let pushed = stats.accepted.load(Ordering::Relaxed);
    let rate =
        |n: u64, d: Duration| f64::from(u32::try_from(n).unwrap_or(u32::MAX)) / d.as_secs_f64();
    println!(
        "{n_events} events to {handles} handles: published in {published:.2?} ({:.0}/s), \
         {pushed} pushed after {done:.2?} ({:.0} events/s into pushes)",
        rate(want, published),
        rate(pushed, done)
    );
    publisher.shutdown().await;
    running.shutdown().await;
    Ok(())
}
