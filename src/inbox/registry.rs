//! Open SSE streams per handle: the per-handle cap (the newest stream
//! wins) and the byte budget every stream shares.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::budget::ByteBudget;

/// Tracks open streams per handle and closes the oldest beyond the cap, so
/// the newest tab always wins and a handle can't hold unbounded connections.
#[derive(Clone)]
pub struct StreamRegistry {
    open: Arc<Mutex<HashMap<String, VecDeque<OpenStream>>>>,
    next_id: Arc<AtomicU64>,
    max_per_handle: usize,
    /// Tickets not yet dropped: stream tasks still running, displaced or not.
    live: Arc<AtomicU64>,
    /// Bytes of events queued across all streams (SPEC §7.4).
    pub bytes: ByteBudget,
}

/// A registered stream: its id and the switch that closes it.
type OpenStream = (u64, oneshot::Sender<()>);

/// One open stream; dropping it unregisters the stream.
#[must_use = "the stream is unregistered as soon as its ticket is dropped"]
pub struct StreamTicket {
    registry: StreamRegistry,
    handle: String,
    id: u64,
    /// Fires when a newer stream displaced this one.
    pub closed: oneshot::Receiver<()>,
}

impl StreamRegistry {
    /// A registry allowing `max_per_handle` concurrent streams per handle,
    /// whose streams and poll answers hold at most `buffer_bytes` (SPEC §7.4).
    pub fn new(max_per_handle: usize, buffer_bytes: usize) -> Self {
        Self {
            open: Arc::default(),
            next_id: Arc::default(),
            max_per_handle: max_per_handle.max(1),
            live: Arc::default(),
            bytes: ByteBudget::new(buffer_bytes),
        }
    }

    /// Registers a new stream, closing the oldest ones over the cap.
    pub fn open(&self, handle: &str) -> StreamTicket {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.live.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let mut open = self.open.lock();
        let streams = open.entry(handle.to_owned()).or_default();
        while streams.len() >= self.max_per_handle {
            if let Some((_, oldest)) = streams.pop_front() {
                let _ = oldest.send(());
            }
        }
        streams.push_back((id, tx));
        StreamTicket {
            registry: self.clone(),
            handle: handle.to_owned(),
            id,
            closed: rx,
        }
    }

    /// Streams currently open across all handles.
    pub fn total_open(&self) -> usize {
        self.open.lock().values().map(VecDeque::len).sum()
    }

    /// Stream tasks still running, including displaced ones that have not
    /// finished yet (they end within one send).
    pub fn live_tasks(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }

    /// Streams currently open for `handle`.
    pub fn open_count(&self, handle: &str) -> usize {
        self.open.lock().get(handle).map_or(0, VecDeque::len)
    }
}

impl Drop for StreamTicket {
    fn drop(&mut self) {
        self.registry.live.fetch_sub(1, Ordering::Relaxed);
        let mut open = self.registry.open.lock();
        if let Some(streams) = open.get_mut(&self.handle) {
            streams.retain(|(id, _)| *id != self.id);
            if streams.is_empty() {
                open.remove(&self.handle);
                crate::refmap::shrink_if_sparse(&mut open);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shrinks_once_the_streams_are_gone() {
        let reg = StreamRegistry::new(2, super::super::ALL_STREAMS_BUFFER_BYTES);
        let tickets: Vec<_> = (0..10_000).map(|i| reg.open(&format!("u{i}"))).collect();
        drop(tickets);
        assert_eq!(reg.total_open(), 0);
        let left = reg.open.lock().capacity();
        assert!(left <= 128, "capacity {left} kept for 0 streams");
    }

    #[test]
    fn the_oldest_stream_is_closed_beyond_the_cap() {
        let reg = StreamRegistry::new(2, super::super::ALL_STREAMS_BUFFER_BYTES);
        let mut first = reg.open("bob");
        let mut second = reg.open("bob");
        let _third = reg.open("bob");
        assert!(first.closed.try_recv().is_ok());
        assert!(second.closed.try_recv().is_err());
        assert_eq!(reg.open_count("bob"), 2);
        drop(second);
        assert_eq!(reg.open_count("bob"), 1);
        assert_eq!(reg.open_count("alice"), 0);
    }
}
