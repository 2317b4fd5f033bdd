//! In-process pub/sub of newly stored messages, keyed by recipient handle.
//!
//! Each recipient gets its own `broadcast` channel, created on the first
//! subscribe and removed when the last subscriber leaves, so a message only
//! wakes its recipient's streams. The `Broker` trait lets the NATS-backed
//! implementation (`crate::nats::fanout::NatsBroker`, which wraps this one)
//! replace it without touching handlers.

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::broadcast;

use crate::kez::Handle;
use crate::refmap::RefCountedMap;
use crate::store::StoredMessage;

/// Slots per recipient channel; a subscriber further behind is told it lagged
/// and catches up from the database. Each slot costs about 40 bytes per
/// online recipient, allocated when its first stream opens: a stream task
/// moves events on to its own queue at once, so 16 is plenty (issue 14).
pub const CHANNEL_CAPACITY: usize = 16;

/// Slots per recipient for ephemeral posts (SPEC §7.7); a subscriber further
/// behind loses the oldest (they are best effort and never replayed).
pub const EPHEMERAL_CAPACITY: usize = 16;

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
    pub receiver: broadcast::Receiver<Arc<StoredMessage>>,
    /// Ephemeral posts published after the subscription was made.
    pub ephemeral: broadcast::Receiver<Arc<Ephemeral>>,
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
#[derive(Clone, Default)]
pub struct LocalBroker {
    channels: RefCountedMap<String, Channels>,
}

/// One recipient's two channels: stored messages and ephemeral posts.
#[derive(Clone)]
struct Channels {
    stored: broadcast::Sender<Arc<StoredMessage>>,
    ephemeral: broadcast::Sender<Arc<Ephemeral>>,
}

impl LocalBroker {
    /// An empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of recipients with at least one subscriber (for tests and metrics).
    pub fn active_channels(&self) -> usize {
        self.channels.len()
    }
}

impl Broker for LocalBroker {
    fn publish(&self, handle: &Handle, msg: Arc<StoredMessage>) {
        if let Some(tx) = self.channels.get(handle.as_str()) {
            // Err only means every receiver has gone since the lookup.
            let _ = tx.stored.send(msg);
        }
    }

    fn publish_ephemeral(&self, handle: &Handle, ev: Arc<Ephemeral>) {
        if let Some(tx) = self.channels.get(handle.as_str()) {
            let _ = tx.ephemeral.send(ev);
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
        assert_eq!(s.receiver.recv().await.unwrap().seq, Seq::new(1));
    }

    #[tokio::test]
    async fn fans_out_to_every_subscriber_of_a_handle() {
        let b = LocalBroker::new();
        let mut s1 = b.subscribe(&h("bob"));
        let mut s2 = b.subscribe(&h("bob"));
        b.publish(&h("bob"), msg(7));
        assert_eq!(s1.receiver.recv().await.unwrap().seq, Seq::new(7));
        assert_eq!(s2.receiver.recv().await.unwrap().seq, Seq::new(7));
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
