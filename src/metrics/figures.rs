//! The server's own figure groups (store, streams, push queue, background
//! tasks, NATS bridge), each read from its owner at scrape time.

use prometheus_client::registry::Registry;

use super::registry::{counters, gauge, load, to_i64};
use crate::state::AppState;

/// Registrations, stored messages and the database writer.
pub(super) fn store_metrics(r: &mut Registry, state: &AppState) {
    let writer = state.store.writer_stats();
    counters(
        r,
        &[
            (
                "registrations",
                "Handles registered",
                load(&state.counters.registrations),
            ),
            (
                "messages_stored",
                "Messages newly stored",
                load(&state.counters.messages_stored),
            ),
            (
                "db_reads",
                "Reads run on the database's reader threads (each one hand-off)",
                state.store.reads(),
            ),
            (
                "db_commits",
                "Write transactions committed (one fsync each)",
                load(&writer.commits),
            ),
            (
                "db_write_jobs",
                "Write jobs carried by those commits",
                load(&writer.jobs),
            ),
        ],
    );
}

/// Live streams, disk space and rate-limit buckets.
pub(super) fn stream_metrics(r: &mut Registry, state: &AppState) {
    counters(
        r,
        &[
            (
                "streams_opened",
                "SSE streams opened (answered 200), on either connection path",
                load(&state.counters.streams_opened),
            ),
            (
                "streams_opened_direct",
                "SSE streams opened on a fresh connection and served off hyper's \
                 per-connection buffers (src/server/direct, issue 14): the rest of \
                 streams_opened rode hyper; tells whether clients reach the lean path",
                load(&state.counters.streams_opened_direct),
            ),
            (
                "slow_readers_closed",
                "Connections of streams and poll answers closed because they held \
                 bytes for 4 s writing under 64 KiB while the byte budget was short (SPEC 7.4)",
                state.streams.bytes.slow_readers_closed(),
            ),
        ],
    );
    gauge(
        r,
        "streams_open",
        "Live SSE streams",
        to_i64(state.streams.total_open()),
    );
    gauge(
        r,
        "stream_tasks",
        "SSE stream tasks still running, displaced ones included",
        i64::try_from(state.streams.live_tasks()).unwrap_or(i64::MAX),
    );
    gauge(
        r,
        "reader_held_bytes",
        "Bytes of stream events, replay pages and poll answers held for clients \
         until written (SPEC 7.4: at most --stream-buffers-mib, 1/16 per client network)",
        to_i64(state.streams.bytes.in_use()),
    );
    gauge(
        r,
        "disk_low",
        "1 while free disk space is under --min-free-disk-mb (new stored data refused)",
        i64::from(state.disk.low()),
    );
    gauge(
        r,
        "rate_limit_tracked_addresses",
        "Client networks with a rate-limit bucket (all classes)",
        to_i64(
            state.message_limiter.tracked_keys()
                + state.silent_limiter.tracked_keys()
                + state.ephemeral_limiter.tracked_keys()
                + state.register_limiter.tracked_keys()
                + state.push_limiter.tracked_keys()
                + state.profile_limiter.tracked_keys(),
        ),
    );
}

/// The push queue's counters.
pub(super) fn push_metrics(r: &mut Registry, state: &AppState) {
    let push = state.push.stats();
    counters(
        r,
        &[
            ("push_queued", "Push notifications queued", push.queued),
            (
                "push_coalesced",
                "Push notifications folded into one already due",
                push.coalesced,
            ),
            (
                "push_dropped",
                "Push notifications dropped (queue full)",
                push.dropped,
            ),
            (
                "push_delivered",
                "Pushes accepted by push services",
                push.delivered,
            ),
            (
                "push_retried",
                "Push tries repeated after 429/5xx/network errors",
                push.retried,
            ),
            (
                "push_removed",
                "Subscriptions removed after 404/410",
                push.removed,
            ),
            ("push_failed", "Pushes given up on", push.failed),
        ],
    );
}

/// Background tasks that ended early, by task.
pub(super) fn task_metrics(r: &mut Registry, state: &AppState) {
    r.register(
        "background_task_exits",
        "Background tasks that ended before shutdown (returned or panicked), by task",
        state.task_exits.0.clone(),
    );
}

/// The NATS bridge's counters, with `--nats-url`.
pub(super) fn nats_metrics(r: &mut Registry, nats: &crate::nats::fanout::NatsStats) {
    counters(
        r,
        &[
            (
                "nats_published",
                "Messages published to NATS",
                load(&nats.published),
            ),
            (
                "nats_dropped",
                "Messages not sent to NATS",
                load(&nats.dropped),
            ),
            (
                "nats_forwarded",
                "Messages from other instances delivered here",
                load(&nats.forwarded),
            ),
        ],
    );
    gauge(
        r,
        "nats_ready",
        "1 when the NATS bridge is connected and subscribed",
        i64::from(nats.is_ready()),
    );
}
