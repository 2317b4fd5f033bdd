//! The checker's figures for `/metrics` (README): claim checks started
//! and finished by verdict, cache hits, `busy` answers, refused requests
//! and how long checks took. Only counts and fixed labels (status and
//! SPEC §15.5 reason code, `http_<status>` folded to its class): no key,
//! name, host or URL.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::Status;

type Labels = [(&'static str, &'static str); 2];

/// Counts shared by every check (one per checker).
#[derive(Debug)]
pub(super) struct Stats {
    started: AtomicU64,
    cache_hits: AtomicU64,
    busy: AtomicU64,
    rate_limited: AtomicU64,
    finished: Family<Labels, Counter>,
    seconds: Histogram,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            started: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            finished: Family::default(),
            // 10 ms … 10.24 s: a fetch's 5 s deadline plus a slot wait.
            seconds: Histogram::new(exponential_buckets(0.01, 2.0, 11)),
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

fn counter(r: &mut Registry, name: &str, help: &str, a: &AtomicU64) {
    let c = Counter::<u64>::default();
    c.inc_by(a.load(Ordering::Relaxed));
    r.register(name, help, c);
}

impl Stats {
    /// A claim without a cached verdict goes for a fetch slot.
    pub(super) fn started(&self) {
        bump(&self.started);
    }

    /// A claim answered from the verdict cache.
    pub(super) fn cache_hit(&self) {
        bump(&self.cache_hits);
    }

    /// A claim answered `busy` (no slot in time, too many chains being
    /// checked, or not checked within the request's wait).
    pub(super) fn busy(&self) {
        bump(&self.busy);
    }

    /// A `/proofs` request refused by `--proof-rate-per-minute`.
    pub(super) fn rate_limited(&self) {
        bump(&self.rate_limited);
    }

    /// A check reached (and cached) a verdict after `seconds`.
    pub(super) fn finished(&self, status: Status, reason: &str, seconds: f64) {
        let labels = [
            ("status", status.as_str()),
            ("reason", reason_label(reason)),
        ];
        self.finished.get_or_create(&labels).inc();
        self.seconds.observe(seconds);
    }

    /// Adds the `kez_proof_*` figures to a scrape.
    pub(super) fn register(&self, r: &mut Registry) {
        counter(
            r,
            "proof_checks_started",
            "Proof checks of a claim begun (no cached verdict)",
            &self.started,
        );
        r.register(
            "proof_checks_finished",
            "Proof checks that reached a verdict (cached), by status and SPEC 15.5 reason \
             (http_<status> as http_3xx/4xx/5xx); busy ones are in proof_busy",
            self.finished.clone(),
        );
        r.register_with_unit(
            "proof_check",
            "Time from a claim's check starting (slot wait included) to its verdict",
            Unit::Seconds,
            self.seconds.clone(),
        );
        counter(
            r,
            "proof_cache_hits",
            "Claims answered from the verdict cache",
            &self.cache_hits,
        );
        counter(
            r,
            "proof_busy",
            "Claims answered busy (no fetch slot in time, too many chains being checked, \
             or not checked within the request's wait)",
            &self.busy,
        );
        counter(
            r,
            "proof_requests_rate_limited",
            "Proof requests refused by --proof-rate-per-minute (429)",
            &self.rate_limited,
        );
    }
}

/// `reason` as a label from a fixed set: the SPEC §15.5 codes, an
/// `http_<status>` folded to its class, anything else `other`.
pub(super) fn reason_label(reason: &str) -> &'static str {
    const CODES: [&str; 13] = [
        "ok",
        "not_found",
        "too_large",
        "bad_statement",
        "wrong_key",
        "wrong_claim",
        "wrong_owner",
        "bad_answer",
        "rate_limited",
        "private_address",
        "timeout",
        "connect_error",
        "dns_error",
    ];
    if let Some(code) = CODES.into_iter().find(|c| *c == reason) {
        return code;
    }
    match reason.strip_prefix("http_").and_then(|s| s.bytes().next()) {
        Some(b'1') => "http_1xx",
        Some(b'3') => "http_3xx",
        Some(b'4') => "http_4xx",
        Some(b'5') => "http_5xx",
        _ => "other",
    }
}
