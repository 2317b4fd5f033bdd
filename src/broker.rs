//! In-process pub/sub of newly stored messages, keyed by recipient handle.
//!
//! Each recipient gets its own `broadcast` channel, created on the first
//! subscribe and removed when the last subscriber leaves, so a message only
//! wakes its recipient's streams. The `Broker` trait lets the NATS-backed
//! implementation (`crate::nats::fanout::NatsBroker`, which wraps this one)
//! replace it without touching handlers.
//!
//! What the channels carry is bounded in bytes (SPEC §7.4): a channel keeps
//! its last [`CHANNEL_CAPACITY`] messages whether or not anyone still
//! needs them, so each carried message holds its size of one process-wide
//! budget ([`CARRY_BYTES`]) until the last copy is gone. A stored message
//! that finds no room goes as its seq alone ([`Live::Wake`]): streams read
//! it from the database. An ephemeral one is dropped.

use std::ops::Deref;
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};

use crate::kez::Handle;
use crate::refmap::RefCountedMap;
use crate::store::{Seq, StoredMessage};

/// Slots per recipient channel; a subscriber further behind is told it lagged
/// and catches up from the database. Each slot costs about 40 bytes per
/// online recipient, allocated when its first stream opens: a stream task
/// moves events on to its own queue at once, so 16 is plenty (issue 14).
pub const CHANNEL_CAPACITY: usize = 16;

/// Slots per recipient for ephemeral posts (SPEC §7.7); a subscriber further
/// behind loses the oldest (they are best effort and never replayed).
pub const EPHEMERAL_CAPACITY: usize = 16;

/// Most bytes of messages the channels (and the NATS outbound queue) hold
/// across the process: 16 slots of 256 KiB envelopes per online recipient
/// would otherwise be 4 MiB each.
pub const CARRY_BYTES: usize = 32 * 1024 * 1024;

/// What a message or ephemeral post counts against [`CARRY_BYTES`]: its
/// envelope and id plus the rest of the value, roughly.
pub(crate) fn carried_size(envelope: &RawValue, id: &str) -> usize {
    envelope.get().len() + id.len() + 64
}

/// A value with its share of the carry budget, released with the last copy.
pub struct Carried<T> {
    value: Arc<T>,
    _bytes: OwnedSemaphorePermit,
}

impl<T> Deref for Carried<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// A stored message as live streams get it.
#[derive(Clone)]
pub enum Live {
    /// The message itself.
    Message(Arc<Carried<StoredMessage>>),
    /// Only its seq: the carry budget had no room (the stream reads it
    /// from the database).
    Wake(Seq),
}

/// An ephemeral post (SPEC §7.7): the `data` of an `event: ephemeral`, never
/// stored, so it has no seq.
#[derive(Debug, Serialize)]
pub struct Ephemeral {
    /// The client's message id (§7.1).
    pub id: String,
    /// The opaque envelope, embedded verbatim.
    pub envelope: Box<RawValue>,
}

/// Fan-out of stored messages to live subscribers.
pub trait Broker: Send + Sync + 'static {
    /// Delivers to current subscribers of `handle`; a no-op without any.
    fn publish(&self, handle: &Handle, msg: Arc<StoredMessage>);
    /// Delivers an ephemeral post to current subscribers of `handle` only
    /// (here and, with NATS, on other instances); a no-op without any.
    fn publish_ephemeral(&self, handle: &Handle, ev: Arc<Ephemeral>);
    /// Subscribes to messages for `handle` from now on.
    fn subscribe(&self, handle: &Handle) -> Subscription;
}

/// A live subscription; dropping it unregisters the subscriber.
#[must_use = "the subscriber is unregistered as soon as the subscription is dropped"]
pub struct Subscription {
    /// Messages published after the subscription was made.
    pub receiver: broadcast::Receiver<Live>,
    /// Ephemeral posts published after the subscription was made.
    pub ephemeral: broadcast::Receiver<Arc<Carried<Ephemeral>>>,
    _guard: Box<dyn Send + Sync>,
}

impl Subscription {
    /// The same subscription, also keeping `guard` alive until it is dropped,
    /// so a broker layered on [`LocalBroker`] can track its own subscribers.
    pub fn also_holding(self, guard: impl Send + Sync + 'static) -> Self {
        Self {
            receiver: self.receiver,
            ephemeral: self.ephemeral,
            // A tuple drops in order: the local unsubscribe first, then `guard`.
            _guard: Box::new((self._guard, guard)),
        }
    }
}

/// The default single-process broker.
#[derive(Clone)]
pub struct LocalBroker {
    channels: RefCountedMap<String, Channels>,
    carry: Arc<Semaphore>,
    capacity: usize,
}

impl Default for LocalBroker {
    fn default() -> Self {
        Self::with_carry_bytes(CARRY_BYTES)
    }
}

/// One recipient's two channels: stored messages and ephemeral posts.
#[derive(Clone)]
struct Channels {
    stored: broadcast::Sender<Live>,
    ephemeral: broadcast::Sender<Arc<Carried<Ephemeral>>>,
}

impl LocalBroker {
    /// An empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty broker whose channels carry at most `bytes` (tests).
    pub fn with_carry_bytes(bytes: usize) -> Self {
        Self {
            channels: RefCountedMap::default(),
            carry: Arc::new(Semaphore::new(bytes)),
            capacity: bytes,
        }
    }

    /// `bytes` of the carry budget, if they fit now: held by whatever
    /// carries a message on (the NATS outbound queue too).
    pub fn carry(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(bytes).ok()?;
        self.carry.clone().try_acquire_many_owned(n).ok()
    }

    /// Bytes the channels and queues carry now.
    pub fn carried_bytes(&self) -> usize {
        self.capacity.saturating_sub(self.carry.available_permits())
    }

    /// Number of recipients with at least one subscriber (for tests and metrics).
    pub fn active_channels(&self) -> usize {
        self.channels.len()
    }
}

impl Broker for LocalBroker {
    fn publish(&self, handle: &Handle, msg: Arc<StoredMessage>) {
        if let Some(tx) = self.channels.get(handle.as_str()) {
            let live = match self.carry(carried_size(&msg.envelope, &msg.id)) {
                Some(bytes) => Live::Message(Arc::new(Carried {
                    value: msg,
                    _bytes: bytes,
                })),
                None => Live::Wake(msg.seq),
            };
            // Err only means every receiver has gone since the lookup.
            let _ = tx.stored.send(live);
        }
    }

    fn publish_ephemeral(&self, handle: &Handle, ev: Arc<Ephemeral>) {
        if let Some(tx) = self.channels.get(handle.as_str())
            // Best effort (SPEC §7.7): no room, not carried.
            && let Some(bytes) = self.carry(carried_size(&ev.envelope, &ev.id))
        {
            let _ = tx.ephemeral.send(Arc::new(Carried {
                value: ev,
                _bytes: bytes,
            }));
        }
    }

    fn subscribe(&self, handle: &Handle) -> Subscription {
        // The guard removes the channel once the recipient's last stream leaves.
        let guard = self
            .channels
            .acquire(handle.as_str().to_owned(), || Channels {
                stored: broadcast::channel(CHANNEL_CAPACITY).0,
                ephemeral: broadcast::channel(EPHEMERAL_CAPACITY).0,
            });
        Subscription {
            receiver: guard.value().stored.subscribe(),
            ephemeral: guard.value().ephemeral.subscribe(),
            _guard: Box::new(guard),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Seq;
    use serde_json::value::RawValue;

    fn h(s: &str) -> Handle {
        Handle::parse(s).unwrap()
    }

    /// A carried message's seq (a wake-up's too).
    fn seq(live: Live) -> Seq {
        match live {
            Live::Message(m) => m.seq,
            Live::Wake(seq) => seq,
        }
    }

    fn msg(seq: u64) -> Arc<StoredMessage> {
        Arc::new(StoredMessage {
            seq: Seq::new(seq),
            id: format!("id-{seq}-aaaaaaaaaaaa"),
            envelope: RawValue::from_string("{}".to_owned()).unwrap(),
            received_at: 0,
        })
    }

    #[tokio::test]
    async fn subscriber_receives_published_messages() {
        let b = LocalBroker::new();
        let mut s = b.subscribe(&h("bob"));
        b.publish(&h("bob"), msg(1));
        assert_eq!(seq(s.receiver.recv().await.unwrap()), Seq::new(1));
    }

    #[tokio::test]
    async fn fans_out_to_every_subscriber_of_a_handle() {
        let b = LocalBroker::new();
        let mut s1 = b.subscribe(&h("bob"));
        let mut s2 = b.subscribe(&h("bob"));
        b.publish(&h("bob"), msg(7));
        assert_eq!(seq(s1.receiver.recv().await.unwrap()), Seq::new(7));
        assert_eq!(seq(s2.receiver.recv().await.unwrap()), Seq::new(7));
    }

    #[tokio::test]
    async fn handles_are_isolated() {
        let b = LocalBroker::new();
        let mut alice = b.subscribe(&h("alice"));
        b.publish(&h("bob"), msg(1));
        assert!(alice.receiver.try_recv().is_err());
    }

    #[tokio::test]
    async fn ephemeral_posts_reach_only_current_subscribers() {
        let b = LocalBroker::new();
        let ev = |id: &str| {
            Arc::new(Ephemeral {
                id: id.to_owned(),
                envelope: RawValue::from_string("{}".to_owned()).unwrap(),
            })
        };
        b.publish_ephemeral(&h("bob"), ev("before-aaaaaaaaaaaa"));
        let mut s = b.subscribe(&h("bob"));
        b.publish_ephemeral(&h("bob"), ev("after-aaaaaaaaaaaaa"));
        assert_eq!(s.ephemeral.recv().await.unwrap().id, "after-aaaaaaaaaaaaa");
        assert!(s.receiver.try_recv().is_err(), "no stored message");
    }

    /// A channel keeps each message until every subscriber has taken it (a
    /// stream waiting for room in its own queue takes none meanwhile): what
    /// the channels carry holds the carry budget until the last copy goes,
    /// and a message that finds no room goes as its seq.
    #[tokio::test]
    async fn what_the_channels_carry_is_bounded_in_bytes() {
        let big = |seq: u64| {
            Arc::new(StoredMessage {
                seq: Seq::new(seq),
                id: format!("id-{seq}-aaaaaaaaaaaa"),
                envelope: RawValue::from_string(format!("{{\"x\":\"{}\"}}", "a".repeat(1000)))
                    .unwrap(),
                received_at: 0,
            })
        };
        let b = LocalBroker::with_carry_bytes(3 * 1200);
        let mut s = b.subscribe(&h("bob"));
        let mut idle = b.subscribe(&h("bob"));
        for n in 1..=5 {
            b.publish(&h("bob"), big(n));
        }
        assert!(b.carried_bytes() <= 3 * 1200);
        let got: Vec<bool> = (0..5)
            .map(|_| matches!(s.receiver.try_recv().unwrap(), Live::Message(_)))
            .collect();
        assert_eq!(got, [true, true, true, false, false]);
        // Taken by one subscriber, still waiting for the other.
        assert!(b.carried_bytes() > 0);
        while idle.receiver.try_recv().is_ok() {}
        assert_eq!(b.carried_bytes(), 0, "taken by every subscriber, released");
        // Ephemeral posts without room are dropped.
        let mut s = b.subscribe(&h("bob"));
        let ev = |id: &str| {
            Arc::new(Ephemeral {
                id: id.to_owned(),
                envelope: RawValue::from_string(format!("{{\"x\":\"{}\"}}", "a".repeat(2000)))
                    .unwrap(),
            })
        };
        b.publish_ephemeral(&h("bob"), ev("one-aaaaaaaaaaaaaaa"));
        b.publish_ephemeral(&h("bob"), ev("two-aaaaaaaaaaaaaaa"));
        assert_eq!(s.ephemeral.try_recv().unwrap().id, "one-aaaaaaaaaaaaaaa");
        assert!(s.ephemeral.try_recv().is_err(), "no room for the second");
    }

    #[test]
    fn publish_without_subscribers_is_a_no_op() {
        let b = LocalBroker::new();
        b.publish(&h("nobody"), msg(1));
        assert_eq!(b.active_channels(), 0);
    }

    #[test]
    fn channel_is_removed_when_the_last_subscriber_leaves() {
        let b = LocalBroker::new();
        let s1 = b.subscribe(&h("bob"));
        let s2 = b.subscribe(&h("bob"));
        assert_eq!(b.active_channels(), 1);
        drop(s1);
        assert_eq!(b.active_channels(), 1);
        drop(s2);
        assert_eq!(b.active_channels(), 0);
    }
}
