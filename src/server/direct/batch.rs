//! One write of a direct stream: what goes out in a single system call,
//! and what it keeps alive until then.
//!
//! Frames already waiting go out together (issue 14: `: open` and a
//! replay's first events in one write). Each frame's `Bytes` stays held
//! until the write is done, so the byte reservation it carries (SPEC §7.4,
//! `src/inbox/hold.rs`) counts it while a slow client keeps the write
//! waiting; only small frames are copied into the write's buffer, and a
//! large one is written from its own buffer, so no uncounted copy of it
//! waits beside it.

use std::io::{self, IoSlice};
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures_util::FutureExt as _;
use http_body_util::BodyExt as _;
use tokio::net::TcpStream;

/// Most bytes copied into one write's buffer from frames already waiting
/// (with the head, or with the frame that woke the stream).
pub(super) const MAX_COALESCED: usize = 16 * 1024;
/// The last chunk of a chunked body.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// How a body stood once [`Batch::take_ready`] stopped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ready {
    /// Nothing more was waiting (or the batch is full).
    Waiting,
    Ended,
    Failed,
}

/// The bytes of one write.
pub(super) struct Batch {
    /// The head and small frames, with their chunk framing.
    out: Vec<u8>,
    /// The small frames copied into `out`, held until written.
    held: Vec<Bytes>,
    /// A frame larger than [`MAX_COALESCED`], written after `out`.
    large: Option<Bytes>,
    /// Chunked framing (else a close-delimited HTTP/1.0 body).
    chunked: bool,
    /// The body ended: its last chunk goes too.
    ended: bool,
}

impl Batch {
    /// A write starting with `out` (a response head, or nothing).
    pub(super) fn new(out: Vec<u8>, chunked: bool) -> Self {
        Self {
            out,
            held: Vec::new(),
            large: None,
            chunked,
            ended: false,
        }
    }

    /// Adds a frame; an empty one is skipped (it would end a chunked body,
    /// and hyper skips them too).
    pub(super) fn add(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        if data.len() > MAX_COALESCED {
            self.large = Some(data);
            return;
        }
        if self.chunked {
            self.out
                .extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
            self.out.extend_from_slice(&data);
            self.out.extend_from_slice(b"\r\n");
        } else {
            self.out.extend_from_slice(&data);
        }
        self.held.push(data);
    }

    /// The body ended: its last chunk goes with this write.
    pub(super) fn end(&mut self) {
        self.ended = true;
    }

    fn full(&self) -> bool {
        self.large.is_some() || self.out.len() >= MAX_COALESCED
    }

    /// Adds the frames `body` has ready now, without waiting, until the
    /// batch is full. It polls with a no-op waker: the caller must poll
    /// `body` again with its own before it waits on it.
    pub(super) fn take_ready(&mut self, body: &mut Body) -> Ready {
        while !self.full() {
            match body.frame().now_or_never() {
                None => return Ready::Waiting,
                Some(None) => return Ready::Ended,
                Some(Some(Err(_))) => return Ready::Failed,
                Some(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.add(data);
                    }
                }
            }
        }
        Ready::Waiting
    }

    /// Writes everything (each wait for the socket bounded by `timeout`),
    /// then lets the frames go.
    pub(super) async fn write(self, socket: &TcpStream, timeout: Duration) -> io::Result<()> {
        let large = self.large.as_deref().unwrap_or_default();
        let size = if self.chunked && !large.is_empty() {
            format!("{:X}\r\n", large.len())
        } else {
            String::new()
        };
        let crlf: &[u8] = if self.chunked && !large.is_empty() {
            b"\r\n"
        } else {
            b""
        };
        let last: &[u8] = if self.chunked && self.ended {
            LAST_CHUNK
        } else {
            b""
        };
        write_all(
            socket,
            &[&self.out, size.as_bytes(), large, crlf, last],
            timeout,
        )
        .await
    }

    /// Whether there is nothing to write.
    pub(super) fn is_empty(&self) -> bool {
        self.out.is_empty() && self.large.is_none() && !(self.chunked && self.ended)
    }

    /// The bytes [`Self::write`] would write (tests).
    #[cfg(test)]
    pub(super) fn bytes(&self) -> Vec<u8> {
        let mut all = self.out.clone();
        if let Some(large) = &self.large {
            if self.chunked {
                all.extend_from_slice(format!("{:X}\r\n", large.len()).as_bytes());
            }
            all.extend_from_slice(large);
            if self.chunked {
                all.extend_from_slice(b"\r\n");
            }
        }
        if self.chunked && self.ended {
            all.extend_from_slice(LAST_CHUNK);
        }
        all
    }
}

/// Writes `parts` in order (vectored), each wait for the socket bounded by
/// `timeout`, as `tokio_io_timeout` bounds hyper's writes.
pub(super) async fn write_all(
    socket: &TcpStream,
    parts: &[&[u8]],
    timeout: Duration,
) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut done = 0;
    while done < total {
        tokio::time::timeout(timeout, socket.writable())
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        let slices = remaining(parts, done);
        match socket.try_write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `parts` without their first `skip` bytes (empty parts left out).
fn remaining<'a>(parts: &[&'a [u8]], mut skip: usize) -> Vec<IoSlice<'a>> {
    let mut left = Vec::with_capacity(parts.len());
    for p in parts {
        let cut = skip.min(p.len());
        skip -= cut;
        if cut < p.len() {
            left.push(IoSlice::new(&p[cut..]));
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(frames: Vec<&'static str>, then_wait: bool) -> Body {
        let ready = futures_util::stream::iter(
            frames
                .into_iter()
                .map(|f| Ok::<_, std::convert::Infallible>(Bytes::from(f))),
        );
        if then_wait {
            Body::from_stream(futures_util::StreamExt::chain(
                ready,
                futures_util::stream::pending(),
            ))
        } else {
            Body::from_stream(ready)
        }
    }

    #[test]
    fn frames_already_waiting_go_out_together() {
        let mut batch = Batch::new(b"head\r\n\r\n".to_vec(), true);
        let state = batch.take_ready(&mut body_of(vec![": open\n\n", "id: 1\n\n"], true));
        assert_eq!(state, Ready::Waiting);
        assert_eq!(
            batch.bytes(),
            b"head\r\n\r\n8\r\n: open\n\n\r\n7\r\nid: 1\n\n\r\n"
        );

        // An empty frame is skipped, not written as the last chunk.
        let mut skipped = Batch::new(Vec::new(), true);
        skipped.take_ready(&mut body_of(vec!["", "a"], true));
        assert_eq!(skipped.bytes(), b"1\r\na\r\n");

        let mut bare = Batch::new(Vec::new(), false);
        assert_eq!(
            bare.take_ready(&mut body_of(vec!["a", "bc"], false)),
            Ready::Ended
        );
        bare.end();
        assert_eq!(bare.bytes(), b"abc");
    }

    #[test]
    fn one_write_copies_at_most_about_the_budget_and_no_large_frame() {
        let mid: &'static str = "x".repeat(10 * 1024).leak();
        let mut body = body_of(vec![mid, mid, mid, mid], false);
        let mut first = Batch::new(Vec::new(), true);
        assert_eq!(first.take_ready(&mut body), Ready::Waiting);
        // Two frames pass the 16 KiB budget; the other two wait their turn.
        assert!(first.out.len() > MAX_COALESCED && first.out.len() < 2 * MAX_COALESCED);
        let mut rest = Batch::new(Vec::new(), true);
        assert_eq!(rest.take_ready(&mut body), Ready::Waiting);
        assert_eq!(
            Batch::new(Vec::new(), true).take_ready(&mut body),
            Ready::Ended
        );
        assert_eq!(first.out.len(), rest.out.len());

        // A frame over the budget is not copied: it is written from its own
        // buffer after what was copied, and ends the batch.
        let large: &'static str = "y".repeat(MAX_COALESCED + 1).leak();
        let mut body = body_of(vec!["a", large, "b"], false);
        let mut batch = Batch::new(Vec::new(), true);
        assert_eq!(batch.take_ready(&mut body), Ready::Waiting);
        assert_eq!(batch.out, b"1\r\na\r\n");
        assert_eq!(batch.large.as_deref(), Some(large.as_bytes()));
        let mut want = b"1\r\na\r\n".to_vec();
        want.extend_from_slice(format!("{:X}\r\n{large}\r\n", large.len()).as_bytes());
        assert_eq!(batch.bytes(), want);
    }

    /// The frames of a write (and what they hold) live until it is done.
    #[tokio::test]
    async fn frames_are_held_until_written() {
        use std::sync::Arc;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let owner = Arc::new(());
        /// Bytes whose owner counts as one holder of `owner`.
        struct Owned(
            #[allow(dead_code, reason = "held for its count")] Arc<()>,
            Vec<u8>,
        );
        impl AsRef<[u8]> for Owned {
            fn as_ref(&self) -> &[u8] {
                &self.1
            }
        }
        let mut batch = Batch::new(Vec::new(), true);
        batch.add(Bytes::from_owner(Owned(owner.clone(), b"small".to_vec())));
        batch.add(Bytes::from_owner(Owned(
            owner.clone(),
            vec![b'z'; 32 << 20],
        )));
        assert_eq!(Arc::strong_count(&owner), 3);
        // The client reads nothing: the write cannot finish, and holds both.
        let write = batch.write(&server, Duration::from_millis(300));
        let mut write = Box::pin(write);
        assert!(futures_util::poll!(&mut write).is_pending());
        assert_eq!(
            Arc::strong_count(&owner),
            3,
            "a frame was let go before it was written"
        );
        assert!(write.await.is_err(), "the client never read");
        assert_eq!(Arc::strong_count(&owner), 1);
        drop(client);
    }

    #[test]
    fn remaining_skips_whole_and_partial_parts() {
        let parts: [&[u8]; 3] = [b"ab", b"cde", b"f"];
        let lens: Vec<usize> = remaining(&parts, 3).iter().map(|s| s.len()).collect();
        assert_eq!(lens, [2, 1]);
    }
}
