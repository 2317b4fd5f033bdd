//! Per-handle coalescing of push notifications (SPEC §10: one push per
//! burst, at the end of a fixed window that starts with the first).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::kez::Handle;

/// Outcome of queueing a handle.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// First notification of a burst: a push is due at the end of the window.
    Scheduled,
    /// Already waiting: folded into the push that is due.
    Coalesced,
    /// Too many handles waiting: dropped.
    Full,
}

/// Per-handle debounce with a fixed window from the first notification, so
/// a burst costs one push and the delay is bounded by the window. Windows
/// are all the same length, so deadlines come out in insertion order and a
/// queue suffices.
pub(crate) struct Coalescer {
    window: Duration,
    cap: usize,
    queue: VecDeque<(Instant, Handle)>,
    /// Each waiting handle, and whether a notification from the nostr
    /// listener opened or joined its window (its pushes count as nostr's).
    waiting: HashMap<Handle, bool>,
}

impl Coalescer {
    pub(crate) fn new(window: Duration, cap: usize) -> Self {
        Self {
            window,
            cap,
            queue: VecDeque::new(),
            waiting: HashMap::new(),
        }
    }

    /// Queues `handle`; `from_nostr` marks a notification of the nostr listener.
    pub(crate) fn add(&mut self, handle: Handle, from_nostr: bool, now: Instant) -> Added {
        if let Some(nostr) = self.waiting.get_mut(&handle) {
            *nostr |= from_nostr;
            return Added::Coalesced;
        }
        if self.waiting.len() >= self.cap {
            return Added::Full;
        }
        self.waiting.insert(handle.clone(), from_nostr);
        self.queue.push_back((now + self.window, handle));
        Added::Scheduled
    }

    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|(t, _)| *t)
    }

    /// The handles whose window ended by `now`, each with its nostr mark.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<(Handle, bool)> {
        let mut due = Vec::new();
        while let Some((t, _)) = self.queue.front() {
            if *t > now {
                break;
            }
            if let Some((_, handle)) = self.queue.pop_front() {
                let nostr = self.waiting.remove(&handle).unwrap_or(false);
                due.push((handle, nostr));
            }
        }
        if !due.is_empty() {
            crate::refmap::shrink_if_sparse(&mut self.waiting);
            if let Some(room) = crate::refmap::shrunk_room(self.queue.len(), self.queue.capacity())
            {
                self.queue.shrink_to(room);
            }
        }
        due
    }

    /// Everything still waiting, due or not (shutdown).
    pub(crate) fn take_all(&mut self) -> Vec<(Handle, bool)> {
        let mut waiting = std::mem::take(&mut self.waiting);
        self.queue
            .drain(..)
            .map(|(_, handle)| {
                let nostr = waiting.remove(&handle).unwrap_or(false);
                (handle, nostr)
            })
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Room kept by the queue and the map of waiting handles.
    #[cfg(test)]
    pub(crate) fn capacities(&self) -> (usize, usize) {
        (self.queue.capacity(), self.waiting.capacity())
    }
}
