//! Messaging benchmark (issue 14): prints figures, asserts nothing about speed.
//!
//! The release server runs as a separate process on 127.0.0.1 with its own
//! SQLite file (every 201 after an fsync); this process is the load
//! generator and reads the server's `/proc/<pid>/{status,stat,fd}`:
//! 1. RSS per idle SSE stream at 1k and at the full count (10k);
//! 2. server CPU µs per message at saturation with 10k / 1k / 10 streams
//!    online, and at 100 msg/s (one commit per message), beside the disk's
//!    floors (a bare SQLite commit; a bare append + fdatasync);
//! 3. delivery p50/p99/max when a stream gets bursts of two events;
//! 4. database bytes per stored ~1.15 KB envelope;
//! 5. time to open all streams 100 at a time (their paths signed before
//!    the clock starts, as clients sign on their own devices), and RSS
//!    after they close,
//!    over several rounds.
//!
//! `cargo bench --bench messaging`. Quick mode: `KEZ_BENCH_STREAMS=2000`
//! (streams, default 10,000), `KEZ_BENCH_MESSAGES` (per saturation run,
//! default 10,000), `KEZ_BENCH_ROUNDS` (open/close rounds, default 10);
//! `KEZ_BENCH_SERVER_BIN` runs another server binary (a before/after pair);
//! `KEZ_BENCH_DATABASE_URL` (an empty PostgreSQL database) runs it on
//! PostgreSQL (SPEC §11.2), counting the CPU of the `postgres` processes
//! here too.

#[path = "support/client.rs"]
mod client;
#[path = "support/floor.rs"]
mod floor;
#[path = "support/server.rs"]
mod server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{User, close_all, envelope, open_many, post, register, stream_paths};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::Value;
use server::ServerProcess;

/// Envelope size of every stored message (the 1.15 KB).
const ENVELOPE_BYTES: usize = 1150;
/// Posts in flight at saturation.
const CONCURRENCY: usize = 64;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[allow(clippy::cast_precision_loss, reason = "byte counts far below 2^52")]
fn kb(bytes: u64) -> f64 {
    bytes as f64 / 1000.0
}

#[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
fn per(total: u64, n: usize) -> f64 {
    total as f64 / n as f64
}

/// The shared pieces of every phase.
struct Bench {
    srv: ServerProcess,
    client: reqwest::Client,
    base: String,
    env: Value,
    run: usize,
}

impl Bench {
    /// Posts `total` messages to `to` round robin, [`CONCURRENCY`] in
    /// flight; returns (msg/s, server CPU µs per message, posts per commit).
    async fn saturate(&mut self, to: &[String], total: usize) -> anyhow::Result<(f64, f64, f64)> {
        self.run += 1;
        let (commits0, jobs0) = self.srv.writer_counts().await?;
        let (run, env, to) = (self.run, self.env.clone(), Arc::new(to.to_vec()));
        let (rate, cpu) = self
            .load(total, 201, move |c, base, k| {
                let id = format!("sat-{run}-{k:010}");
                let body = serde_json::json!({"to": to[k % to.len()], "id": id, "envelope": env});
                c.post(format!("{base}/v1/messages")).json(&body)
            })
            .await?;
        let (commits, jobs) = self.srv.writer_counts().await?;
        let batch = per(jobs - jobs0, usize::try_from(commits - commits0)?.max(1));
        Ok((rate, cpu, batch))
    }

    /// `total` requests, [`CONCURRENCY`] in flight, the `k`th built by
    /// `req(client, base, k)` and expected to answer `status`; returns
    /// (requests/s, server CPU µs per request).
    async fn load<F>(&mut self, total: usize, status: u16, req: F) -> anyhow::Result<(f64, f64)>
    where
        F: Fn(&reqwest::Client, &str, usize) -> reqwest::RequestBuilder + Clone + Send + 'static,
    {
        let cpu0 = self.srv.cpu_us();
        let started = Instant::now();
        let each = total / CONCURRENCY;
        let tasks: Vec<_> = (0..CONCURRENCY)
            .map(|c| {
                let (client, base, req) = (self.client.clone(), self.base.clone(), req.clone());
                tokio::spawn(async move {
                    for k in c * each..(c + 1) * each {
                        let r = req(&client, &base, k).send().await?;
                        anyhow::ensure!(r.status() == status, "answered {}", r.status());
                        r.bytes().await?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for t in tasks {
            t.await??;
        }
        let n = each * CONCURRENCY;
        let secs = started.elapsed().as_secs_f64();
        Ok((per(n as u64, 1) / secs, per(self.srv.cpu_us() - cpu0, n)))
    }

    /// One post every 10 ms, each awaited: a commit per message.
    async fn paced(&mut self, to: &str, total: usize) -> anyhow::Result<f64> {
        let cpu0 = self.srv.cpu_us();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        for i in 0..total {
            tick.tick().await;
            post(
                &self.client,
                &self.base,
                to,
                &format!("paced-{i:010}-xxxxx"),
                &self.env,
            )
            .await?;
        }
        Ok(per(self.srv.cpu_us() - cpu0, total))
    }

    /// Bursts of two posts at once to one stream; returns sorted (delivery,
    /// ack) latencies, both from the burst's start.
    async fn bursts(
        &self,
        target: &User,
        n: usize,
    ) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
        let res = self
            .client
            .get(format!("{}{}", self.base, target.stream_path()))
            .send()
            .await?;
        anyhow::ensure!(res.status() == 200);
        let mut events = Box::pin(res.bytes_stream().eventsource());
        let small = envelope(300);
        let (mut delivery, mut acks) = (Vec::new(), Vec::new());
        for b in 0..n {
            let t0 = Instant::now();
            let one = async {
                let seq = post(
                    &self.client,
                    &self.base,
                    &target.handle,
                    &format!("burst-{b:010}-aaaaa"),
                    &small,
                )
                .await;
                (seq, t0.elapsed())
            };
            let two = async {
                let seq = post(
                    &self.client,
                    &self.base,
                    &target.handle,
                    &format!("burst-{b:010}-bbbbb"),
                    &small,
                )
                .await;
                (seq, t0.elapsed())
            };
            let ((s1, a1), (s2, a2)) = tokio::join!(one, two);
            let mut want = vec![s1?.to_string(), s2?.to_string()];
            acks.extend([a1, a2]);
            while !want.is_empty() {
                let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("stream ended"))??;
                if ev.event == "message"
                    && let Some(i) = want.iter().position(|w| *w == ev.id)
                {
                    want.swap_remove(i);
                    delivery.push(t0.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        delivery.sort();
        acks.sort();
        Ok((delivery, acks))
    }
}

fn latency_row(name: &str, s: &[Duration]) {
    println!(
        "| {name} | {} | {:.2} | {:.2} | {:.2} |",
        s.len(),
        ms(percentile(s, 0.5)),
        ms(percentile(s, 0.99)),
        s.last().map_or(0.0, |d| ms(*d))
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let nofile = server::raise_nofile();
    let streams = env_usize("KEZ_BENCH_STREAMS", 10_000);
    let messages = env_usize("KEZ_BENCH_MESSAGES", 10_000);
    let rounds = env_usize("KEZ_BENCH_ROUNDS", 10);
    let mid = streams.min(1_000);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let srv = ServerProcess::start(dir.path()).await?;
    let base = format!("http://{}", srv.addr);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    println!(
        "# kez-chat-server messaging benchmark: {streams} streams, {messages} messages per saturation run, {rounds} rounds (client open-file limit {nofile})"
    );
    let fresh_rss = srv.rss();
    let users: Vec<User> = (0..=streams).map(User::new).collect();
    let t = Instant::now();
    register(&client, &base, &users).await?;
    println!(
        "registered {} handles in {:.2} s",
        users.len(),
        t.elapsed().as_secs_f64()
    );
    println!("database: {}", srv.database());
    let base_fds = srv.open_fds();
    let base_rss = srv.rss();
    let mut b = Bench {
        srv,
        client,
        base,
        env: envelope(ENVELOPE_BYTES),
        run: 0,
    };

    println!("\n## Idle SSE streams (server RSS from /proc/<pid>/status)");
    let paths = stream_paths(&users[..streams]);
    let t = Instant::now();
    let mut open = open_many(b.srv.addr, &paths[..mid], 100).await?;
    let rss_mid = b.srv.rss();
    open.extend(open_many(b.srv.addr, &paths[mid..], 100).await?);
    let first_open = t.elapsed();
    let rss_all = b.srv.rss();
    println!("| streams | server RSS | per stream |\n|---|---|---|");
    println!(
        "| 0 (fresh, before registering) | {:.1} MB | |",
        kb(fresh_rss) / 1e3
    );
    println!("| 0 (after registering) | {:.1} MB | |", kb(base_rss) / 1e3);
    println!(
        "| {mid} | {:.1} MB | {:.1} KB |",
        kb(rss_mid) / 1e3,
        kb(rss_mid - base_rss) / per(mid as u64, 1)
    );
    println!(
        "| {streams} | {:.1} MB | {:.1} KB |",
        kb(rss_all) / 1e3,
        kb(rss_all - base_rss) / per(streams as u64, 1)
    );
    println!(
        "first open of {streams} streams, 100 at a time: {:.2} s",
        first_open.as_secs_f64()
    );

    println!(
        "\n## Saturation: {messages} posts of {ENVELOPE_BYTES}-byte envelopes, {CONCURRENCY} in flight, to online streams"
    );
    let db0 = b.srv.db_bytes().await?;
    let handles: Vec<String> = users.iter().map(|u| u.handle.clone()).collect();
    println!(
        "| streams online | acked msg/s | server CPU µs/msg | posts per commit |\n|---|---|---|---|"
    );
    let mut stored = 0;
    for n in [streams, mid, 10] {
        close_all(open.split_off(n.min(open.len())));
        b.srv.settle_fds(base_fds + n + CONCURRENCY + 8).await;
        let (rate, cpu, batch) = b.saturate(&handles[..n], messages).await?;
        stored += messages / CONCURRENCY * CONCURRENCY;
        println!("| {n} | {rate:.0} | {cpu:.0} | {batch:.1} |");
    }
    println!(
        "\n## The request stack's floor ({CONCURRENCY} in flight, 10 streams online, nothing stored)"
    );
    println!("| request | answer | req/s | server CPU µs/req |\n|---|---|---|---|");
    let (rate, cpu) = b
        .load(messages, 200, |c, base, _| {
            c.get(format!("{base}/v1/healthz"))
        })
        .await?;
    println!("| GET /v1/healthz | 200 | {rate:.0} | {cpu:.0} |");
    let refused = serde_json::json!({"to": handles[0], "id": "short", "envelope": b.env});
    let (rate, cpu) = b
        .load(messages, 422, move |c, base, _| {
            c.post(format!("{base}/v1/messages")).json(&refused)
        })
        .await?;
    println!(
        "| POST /v1/messages, same body, refused after parsing (`invalid_message_id`) | 422 | {rate:.0} | {cpu:.0} |"
    );
    let db1 = b.srv.db_bytes().await?;
    let paced_n = (messages / 20).clamp(100, 500);
    let paced = b.paced(&handles[0], paced_n).await?;
    println!(
        "100 msg/s ({paced_n} posts, one commit each), 10 streams online: {paced:.0} µs server CPU per message"
    );
    let floor_dir = dir.path().to_path_buf();
    let (floor, append) = tokio::task::spawn_blocking(move || {
        let pace = Duration::from_millis(10);
        anyhow::Ok((
            floor::sqlite_commit_floor(&floor_dir, paced_n, ENVELOPE_BYTES, pace)?,
            floor::append_fdatasync_floor(&floor_dir, paced_n, ENVELOPE_BYTES, pace)?,
        ))
    })
    .await??;
    println!(
        "floor on this disk: a bare SQLite commit of one {ENVELOPE_BYTES}-byte row (WAL, synchronous=FULL), one every 10 ms, in the bench process: {floor:.0} µs CPU per commit"
    );
    println!(
        "floor under any durable design: append {ENVELOPE_BYTES} bytes to a plain file + fdatasync, one every 10 ms, in the bench process: {append:.0} µs CPU per append"
    );
    println!(
        "database: {:.0} bytes of live pages per stored message ({stored} messages of {} bytes of envelope JSON)",
        per(db1 - db0, stored),
        b.env.to_string().len()
    );

    println!(
        "\n## Bursts of two posts at once to one stream (10 other streams online; ms from the burst's start)"
    );
    let (delivery, acks) = b.bursts(&users[streams], 200).await?;
    println!("| what | samples | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|");
    latency_row("event read on the stream", &delivery);
    latency_row("201 received", &acks);

    close_all(open);
    b.srv.settle_fds(base_fds + 8).await;
    // As after each round below: jemalloc purges freed pages within ~0.3 s.
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!(
        "\n## Open {streams} authenticated streams 100 at a time, then close them all; {rounds} rounds"
    );
    println!(
        "server RSS with none open before the rounds: {:.1} MB",
        kb(b.srv.rss()) / 1e3
    );
    println!(
        "| round | open s | server CPU µs per open | RSS open | RSS after close | clients' signing s (before the clock) |\n|---|---|---|---|---|---|"
    );
    let mut times = Vec::new();
    for r in 1..=rounds {
        let signing = Instant::now();
        let paths = stream_paths(&users[..streams]);
        let signed = signing.elapsed();
        let t = Instant::now();
        let cpu0 = b.srv.cpu_us();
        let open = open_many(b.srv.addr, &paths, 100).await?;
        let took = t.elapsed();
        let cpu = per(b.srv.cpu_us() - cpu0, streams);
        times.push(took);
        let rss_open = b.srv.rss();
        close_all(open);
        b.srv.settle_fds(base_fds + 8).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!(
            "| {r} | {:.2} | {cpu:.0} | {:.1} MB | {:.1} MB | {:.2} |",
            took.as_secs_f64(),
            kb(rss_open) / 1e3,
            kb(b.srv.rss()) / 1e3,
            signed.as_secs_f64()
        );
    }
    times.sort();
    if !times.is_empty() {
        println!(
            "median open time: {:.2} s",
            percentile(&times, 0.5).as_secs_f64()
        );
    }
    b.srv.stop();
    Ok(())
}
