//! `AppState`: everything a handler needs, built once from `Config`.

use std::sync::Arc;

use tokio::sync::watch;

use crate::broker::{Broker, LocalBroker};
use crate::config::Config;
use crate::inbox::StreamRegistry;
use crate::rate_limit::IpRateLimiter;
use crate::store::{MailboxLimits, Store};
use crate::telemetry::Redactor;

/// Cheap-to-clone bundle of shared handles.
#[derive(Clone)]
pub struct AppState {
    /// The parsed configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// Live fan-out of stored messages.
    pub broker: Arc<dyn Broker>,
    /// Open SSE streams per handle (enforces the per-handle cap).
    pub streams: StreamRegistry,
    /// Per-IP limit on `POST /v1/messages`.
    pub message_limiter: IpRateLimiter,
    /// Per-IP limit on `POST /v1/register`.
    pub register_limiter: IpRateLimiter,
    /// Per-IP limit on push subscription changes.
    pub push_limiter: IpRateLimiter,
    /// Salted hashing of identifiers for logs.
    pub redact: Redactor,
    /// Web Push subscriptions and fanout.
    pub push: crate::push::PushService,
    /// Counts bumped by handlers, for `/metrics`.
    pub counters: Arc<crate::metrics::RequestCounters>,
    /// Counters and readiness of the NATS fan-out, when `--nats-url` is set.
    pub nats: Option<Arc<crate::nats::fanout::NatsStats>>,
    /// Whether the disk is too full to take new messages.
    pub disk: crate::disk::DiskGuard,
    /// Flips to `true` when the server starts shutting down; streams end on it.
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// Opens the store and builds every shared component.
    pub fn new(config: Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<Self> {
        let store = Store::open(&config.db)?;
        let redact = Redactor::new();
        let push = crate::push::PushService::new(&config, &store, &redact)?;
        let disk = crate::disk::DiskGuard::new(&config.db, config.min_free_disk_mb);
        Ok(Self {
            disk,
            push,
            message_limiter: IpRateLimiter::per_minute(
                config.message_rate_per_minute,
                config.message_rate_per_minute,
                "messages",
            ),
            register_limiter: IpRateLimiter::per_minute(
                config.register_rate_per_minute,
                config.register_rate_per_minute,
                "registrations",
            ),
            push_limiter: IpRateLimiter::per_minute(
                config.push_rate_per_minute,
                config.push_rate_per_minute,
                "push subscription changes",
            ),
            streams: StreamRegistry::new(config.max_streams_per_handle),
            config: Arc::new(config),
            store,
            broker: Arc::new(LocalBroker::new()),
            redact,
            counters: Arc::default(),
            nats: None,
            shutdown,
        })
    }

    /// The mailbox quota from the configuration.
    pub fn mailbox_limits(&self) -> MailboxLimits {
        MailboxLimits {
            max_messages: self.config.mailbox_max_messages,
            max_bytes: self.config.mailbox_max_bytes,
            accept_new: !self.disk.low(),
        }
    }
}
