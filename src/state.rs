//! `AppState`: everything a handler needs, built once from `Config`, and
//! the [`Background`] work its components need running beside it.

use std::sync::Arc;

use anyhow::Context;

use tokio::sync::watch;

use crate::broker::{Broker, LocalBroker};
use crate::config::Config;
use crate::inbox::StreamRegistry;
use crate::nats::callout::{Authorizer, CalloutService, CalloutStats};
use crate::nats::fanout::{NatsBridge, NatsBroker, NatsStats};
use crate::push::{PushService, PushWorker};
use crate::rate_limit::IpRateLimiter;
use crate::store::{MailboxLimits, Store};
use crate::telemetry::Redactor;

/// Cheap-to-clone handle on the shared [`AppStateInner`]: one `Arc`, so
/// the clone each extractor and each open stream takes is one reference
/// count bump, not one per field (issue 14). Fields read through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// Everything a handler needs, built once by [`AppState::new`].
pub struct AppStateInner {
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
    /// Silent message posts (`?notify=false`, SPEC §7.5): their own bucket.
    pub silent_limiter: IpRateLimiter,
    /// Ephemeral posts (`?ephemeral=true`, SPEC §7.7): a bucket of their own.
    pub ephemeral_limiter: IpRateLimiter,
    /// Per-IP limit on `POST /v1/register`.
    pub register_limiter: IpRateLimiter,
    /// Per-IP limit on push subscription changes.
    pub push_limiter: IpRateLimiter,
    /// Per-IP limit on `PUT /v1/profile`.
    pub profile_limiter: IpRateLimiter,
    /// Per-IP limit on sigchain appends (SPEC §15).
    pub sigchain_limiter: IpRateLimiter,
    /// Per-IP limit on proof checks (SPEC §15.5).
    pub proof_limiter: IpRateLimiter,
    /// Salted hashing of identifiers for logs.
    pub redact: Redactor,
    /// Tags of senders' networks for the per-sender share (SPEC §7.5),
    /// keyed by the ring file beside the database (`--sender-key-file`),
    /// so they survive restarts and are the same on every instance.
    pub sender_keys: crate::sender_keys::SenderKeys,
    /// Web Push subscriptions and fanout.
    pub push: PushService,
    /// Sigchain proof checks (SPEC §15.5).
    pub proofs: crate::sigchain::ProofChecker,
    /// Counts bumped by handlers, for `/metrics`.
    pub counters: Arc<crate::metrics::RequestCounters>,
    /// Counters and readiness of the NATS fan-out, when `--nats-url` is set.
    pub nats: Option<Arc<NatsStats>>,
    /// Decisions and readiness of the NATS auth callout, when it is on.
    pub callout: Option<Arc<CalloutStats>>,
    /// The nostr listener's counters and wake-up, when `--nostr-relays` is set.
    pub nostr: Option<crate::nostr::NostrHandle>,
    /// Background tasks that ended before shutdown, for `/metrics`.
    pub task_exits: crate::metrics::TaskExits,
    /// Whether the disk is too full to take new messages.
    pub disk: crate::disk::DiskGuard,
    /// Flips to `true` when the server starts shutting down; streams end on it.
    pub shutdown: watch::Receiver<bool>,
}

/// The work [`AppState`]'s components need done in the background, for the
/// server to run under its supervisor (`server::start`).
pub struct Background {
    /// Sends the pushes that `state.push.notify` queues.
    pub push: PushWorker,
    /// Carries messages to and from other instances, with `--nats-url`.
    pub nats: Option<NatsBridge>,
    /// Answers nats-server's authorization requests, with
    /// `--nats-callout-issuer-seed-file`.
    pub callout: Option<CalloutService>,
    /// Pushes for message events on nostr relays, with `--nostr-relays`.
    pub nostr: Option<crate::nostr::NostrListener>,
}

impl AppState {
    /// Opens the store and builds every shared component, the broker
    /// included (NATS-backed with `--nats-url`, SPEC §11, else local).
    /// Nothing runs yet: the returned [`Background`] work does not start
    /// until the server runs it, and notifications queue up meanwhile.
    pub fn new(
        config: Config,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<(Self, Background)> {
        let store = Store::open_configured(&config)?;
        let redact = Redactor::new();
        let sender_keys = crate::sender_keys::SenderKeys::open(
            config.sender_key_file(),
            config.retention_hours.saturating_mul(3600),
            config.sender_key_day_offset,
        )?;
        let (push, push_worker) = PushService::new(&config, &store, &redact)?;
        // PostgreSQL's disk is not ours to watch: it refuses writes itself
        // when full (SQLSTATE 53100), which the store turns into the same 507.
        let min_free_mb = match config.database_url {
            Some(_) => 0,
            None => config.min_free_disk_mb,
        };
        let disk = crate::disk::DiskGuard::new(&config.db, min_free_mb);
        let proofs = crate::sigchain::ProofChecker::new(&config.proofs)?;
        let callout_service = callout(&config, &store)?;
        let callout = callout_service.as_ref().map(CalloutService::stats);
        let (broker, nats, nats_bridge) = choose_broker(&config, callout.clone())?;
        let per_minute = |rate, what| IpRateLimiter::per_minute(rate, rate, what);
        let nostr = (!config.nostr_relays.0.is_empty()).then(crate::nostr::NostrHandle::default);
        let nostr_listener = nostr.as_ref().map(|h| {
            crate::nostr::NostrListener::new(
                config.nostr_relays.0.clone(),
                store.clone(),
                push.clone(),
                h.clone(),
                config.nostr_push_per_minute,
            )
        });
        let state = Self(Arc::new(AppStateInner {
            disk,
            push,
            proofs,
            message_limiter: per_minute(config.message_rate_per_minute, "messages"),
            silent_limiter: per_minute(config.silent_rate_per_minute, "silent messages"),
            ephemeral_limiter: per_minute(config.ephemeral_rate_per_minute, "ephemeral messages"),
            register_limiter: per_minute(config.register_rate_per_minute, "registrations"),
            push_limiter: per_minute(config.push_rate_per_minute, "push subscription changes"),
            profile_limiter: per_minute(config.profile_rate_per_minute, "profile updates"),
            sigchain_limiter: per_minute(config.sigchain_rate_per_minute, "sigchain appends"),
            proof_limiter: per_minute(config.proofs.proof_rate_per_minute, "proof checks"),
            streams: StreamRegistry::new(
                config.max_streams_per_handle,
                config.stream_buffer_bytes(),
            ),
            config: Arc::new(config),
            store,
            broker,
            redact,
            sender_keys,
            counters: Arc::default(),
            nats,
            callout,
            nostr,
            task_exits: crate::metrics::TaskExits::default(),
            shutdown,
        }));
        let background = Background {
            push: push_worker,
            nats: nats_bridge,
            callout: callout_service,
            nostr: nostr_listener,
        };
        Ok((state, background))
    }

    /// 507 `storage_full` while the disk guard says the disk is almost full
    /// (SPEC §7.5): asked by every request that adds stored data (handle,
    /// profile, sigchain link, push subscription) before it writes. Posts
    /// ask the same guard inside the store ([`MailboxLimits::accept_new`](crate::store::MailboxLimits::accept_new)),
    /// so a retry of a stored message still gets its seq.
    pub fn check_room(&self) -> Result<(), crate::error::AppError> {
        if self.disk.low() {
            return Err(crate::store::StoreError::StorageFull.into());
        }
        Ok(())
    }

    /// The mailbox quota from the configuration.
    pub fn mailbox_limits(&self) -> MailboxLimits {
        MailboxLimits {
            max_messages: self.config.mailbox_max_messages,
            max_bytes: self.config.mailbox_max_bytes,
            sender_share_percent: self.config.mailbox_sender_share_percent,
            accept_new: !self.disk.low(),
        }
    }
}

/// The NATS broker (which wraps a local one) with `--nats-url`, with its
/// counters and the bridge it needs running (its first connect waiting for
/// this process's `callout`, if on); otherwise the local broker.
/// Errors: an unreadable `--nats-instance-token-file`.
fn choose_broker(
    config: &Config,
    callout: Option<Arc<CalloutStats>>,
) -> anyhow::Result<BrokerParts> {
    let local = LocalBroker::with_carry_bytes(config.fanout_carry_bytes());
    Ok(match &config.nats_url {
        Some(url) => {
            let queue = crate::nats::fanout::DEFAULT_QUEUE;
            let (broker, bridge) = NatsBroker::new(url, &config.server, queue, local);
            let bridge = bridge
                .with_token(config.nats_auth.instance_token()?)
                .with_callout(callout);
            let stats = broker.stats();
            (Arc::new(broker), Some(stats), Some(bridge))
        }
        None => (Arc::new(local), None, None),
    })
}

type BrokerParts = (Arc<dyn Broker>, Option<Arc<NatsStats>>, Option<NatsBridge>);

/// The auth callout service when `--nats-callout-issuer-seed-file` is set
/// (SPEC §11 "Auth callout"). Errors: a missing companion flag, an
/// unreadable secret file, a seed that is not an account seed.
fn callout(config: &Config, store: &Store) -> anyhow::Result<Option<CalloutService>> {
    let a = &config.nats_auth;
    for flag in a.ignored_flags(config.nats_url.as_deref()) {
        tracing::warn!(flag, "flag has no effect without its companion");
    }
    let (Some(secrets), Some(url)) = (
        a.callout_secrets(config.nats_url.as_deref())?,
        &config.nats_url,
    ) else {
        return Ok(None);
    };
    let authorizer = Authorizer::new(
        &secrets.issuer_seed,
        &a.nats_callout_account,
        &secrets.instance_token,
        &config.server,
        a.nats_callout_user_ttl_secs,
    )
    .with_context(|| {
        let seed = a
            .nats_callout_issuer_seed_file
            .as_deref()
            .unwrap_or_else(|| "".as_ref());
        format!("--nats-callout-issuer-seed-file: {}", seed.display())
    })?
    .with_identities(
        a.nats_callout_identities
            .then_some(a.nats_callout_identity_account.as_str()),
    );
    Ok(Some(CalloutService::new(
        url,
        &a.nats_callout_user,
        &secrets.password,
        authorizer,
        store.clone(),
    )))
}
