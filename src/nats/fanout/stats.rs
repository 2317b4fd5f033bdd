//! The fan-out's counters and readiness (SPEC §11), apart from the bridge.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

/// Counters and readiness of the NATS bridge, shared with `AppState` for
/// tests and (later) metrics.
#[derive(Debug)]
pub struct NatsStats {
    /// Messages handed to NATS.
    pub published: AtomicU64,
    /// Messages not sent to NATS: queue full, or NATS not connected.
    pub dropped: AtomicU64,
    /// Messages from other instances delivered to local streams.
    pub forwarded: AtomicU64,
    pub(super) ready: watch::Sender<bool>,
}

impl NatsStats {
    pub(super) fn new() -> Self {
        Self {
            published: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            ready: watch::Sender::new(false),
        }
    }

    /// Whether the bridge is connected and its subscription is in place.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Resolves once the bridge is connected and subscribed (tests wait on
    /// this instead of sleeping).
    pub async fn ready(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    pub(super) fn count_drop(&self) {
        let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        // Log the first drop and then ever more rarely, not once per message.
        if n.is_power_of_two() {
            tracing::warn!(
                dropped = n,
                "NATS fan-out queue full or disconnected; messages not sent to other instances"
            );
        }
    }
}
