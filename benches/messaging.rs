//! Messaging benchmark: prints figures, asserts nothing about speed.
//!
//! 1. POST /v1/messages throughput with durable (fsync'd, group-committed)
//!    persistence, at several client concurrencies.
//! 2. POST -> SSE delivery latency (p50/p99) while 1,000 other streams sit idle.
//!
//! `cargo bench --bench messaging` (release build, real server on 127.0.0.1).

use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use kez_chat_server::config::Config;
use kez_chat_server::kez::{auth, json};
use kez_chat_server::server;
use serde_json::{Value, json};

const SERVER: &str = "bench.test";

struct User {
    sk: SigningKey,
    handle: String,
}

impl User {
    fn new(i: usize) -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("rng");
        Self {
            sk: SigningKey::from_bytes(&seed),
            handle: format!("user{i:05}"),
        }
    }

    fn primary(&self) -> String {
        format!(
            "ed25519:{}",
            hex::encode(self.sk.verifying_key().as_bytes())
        )
    }

    fn registration(&self) -> Value {
        let payload = json!({"type": "kez.chat.handle_registration", "version": 1,
            "handle": self.handle, "primary": self.primary(), "server": SERVER,
            "created_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)});
        let sig = hex::encode(self.sk.sign(&json::canonical_bytes(&payload)).to_bytes());
        json!({"kez": "handle_registration", "payload": payload,
               "signature": {"alg": "ed25519-sha512-jcs", "key": self.primary(), "sig": sig}})
    }

    fn stream_url(&self, base: &str) -> String {
        let ts = chrono::Utc::now().timestamp();
        let sig = hex::encode(
            self.sk
                .sign(auth::stream_string(SERVER, &self.handle, ts).as_bytes())
                .to_bytes(),
        );
        format!("{base}/v1/inbox/{}/stream?auth={ts}:{sig}", self.handle)
    }
}

fn envelope(bytes: usize) -> Value {
    json!({"v": 2, "epk": "00".repeat(32), "nonce": "00".repeat(12), "ct": "A".repeat(bytes)})
}

#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a rank from a fraction: sample counts are far below 2^52 and the rounded rank is in 0..len"
)]
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::defaults();
    config.bind = "127.0.0.1:0".parse()?;
    config.db = dir.path().join("bench.db");
    config.server = SERVER.to_owned();
    config.message_rate_per_minute = u32::MAX;
    config.register_rate_per_minute = u32::MAX;
    config.max_connections_per_ip = usize::MAX;
    config.mailbox_max_messages = u64::MAX / 2;
    config.mailbox_max_bytes = u64::MAX / 2;
    let running = server::start(config).await?;
    let base = format!("http://{}", running.addr);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    let users: Vec<User> = (0..1001).map(User::new).collect();
    for chunk in users.chunks(50) {
        let regs = chunk.iter().map(|u| {
            client
                .post(format!("{base}/v1/register"))
                .json(&u.registration())
                .send()
        });
        for r in futures_util::future::join_all(regs).await {
            anyhow::ensure!(r?.status() == 201, "registration failed");
        }
    }

    println!("## POST /v1/messages throughput (durable: synchronous=FULL, group commit)");
    println!("| concurrent clients | messages | seconds | msg/s |");
    println!("|---|---|---|---|");
    let env = envelope(1024);
    for concurrency in [1usize, 16, 64, 256] {
        let total = if concurrency == 1 { 1_000 } else { 10_000 };
        let started = Instant::now();
        let per = total / concurrency;
        let tasks: Vec<_> = (0..concurrency)
            .map(|c| {
                let (client, base, env) = (client.clone(), base.clone(), env.clone());
                let to = users[c % 100].handle.clone();
                tokio::spawn(async move {
                    for i in 0..per {
                        let body = json!({"to": to, "id": format!("bench-{concurrency}-{c}-{i:08}"), "envelope": env});
                        let r = client.post(format!("{base}/v1/messages")).json(&body).send().await.expect("post");
                        assert_eq!(r.status(), 201);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await?;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "| {concurrency} | {} | {secs:.2} | {:.0} |",
            per * concurrency,
            f64::from(u32::try_from(per * concurrency)?) / secs
        );
    }

    println!();
    println!("## POST -> SSE delivery latency with 1,000 idle streams open");
    let mut idle = Vec::new();
    for u in &users[..1000] {
        let res = client
            .get(u.stream_url(&base))
            .header("last-event-id", "999999999")
            .send()
            .await?;
        anyhow::ensure!(res.status() == 200);
        idle.push(res);
    }
    // The idle streams resume after a huge Last-Event-ID, so none of the
    // throughput messages replay; the measured user has received nothing yet.
    let target = &users[1000];
    let res = client.get(target.stream_url(&base)).send().await?;
    let mut events = Box::pin(res.bytes_stream().eventsource());
    let small = envelope(256);
    let mut samples = Vec::new();
    let mut stored = 0u64;
    for i in 0..500 {
        let body =
            json!({"to": target.handle, "id": format!("latency-{i:08}-xxxxx"), "envelope": small});
        let t0 = Instant::now();
        let r = client
            .post(format!("{base}/v1/messages"))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201);
        let seq = r.json::<Value>().await?["seq"].as_u64().unwrap_or(0);
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
                .await?
                .expect("stream open")?;
            if ev.event == "message" && ev.id == seq.to_string() {
                break;
            }
        }
        samples.push(t0.elapsed());
        stored += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    samples.sort();
    println!("| samples | p50 | p99 | max |");
    println!("|---|---|---|---|");
    println!(
        "| {stored} | {:.2} ms | {:.2} ms | {:.2} ms |",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1e3)
    );
    println!(
        "(latency = POST sent -> 201 received -> matching SSE event read; includes the fsync)"
    );
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(rss) = status.lines().find(|l| l.starts_with("VmRSS"))
    {
        println!("process {rss} (server + 1,001 client streams in one process)");
    }
    drop(idle);
    running.shutdown().await;
    Ok(())
}
