//! The SSE response of a stream whose frames keep their byte reservation
//! until written (SPEC §7.4).
//!
//! axum's `Sse` turns each event into a frame's `Bytes`. Before, taking the
//! event off the stream's queue released its bytes, so a client that read
//! nothing still made the server hold, uncounted, the frame being written
//! and whatever hyper had queued for the socket (~1–2.7 MB per stalled
//! stream, measured). Here the queue's reader parks each event's
//! reservation in a slot, and the body takes it from the slot into the
//! frame the same event became ([`Reserved::hold`]): the bytes stay counted
//! until hyper (or the direct path) has written and dropped them.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use http_body::Frame;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::budget::{Outgoing, Reserved};

/// The reservation of the event just handed to `Sse`, for the frame it
/// becomes in the same poll.
type Slot = Arc<Mutex<Option<Reserved>>>;

/// An event stream answer: `first` (a comment at once), then the events
/// queued on `rx`, with `keep_alive` comments while idle.
pub(super) fn response(
    first: Event,
    rx: mpsc::Receiver<Box<Outgoing>>,
    keep_alive: Duration,
    keep_alive_text: &str,
) -> Response {
    let slot = Slot::default();
    let parked = slot.clone();
    let events = ReceiverStream::new(rx).map(move |o: Box<Outgoing>| {
        let Outgoing { event, reserved } = *o;
        *parked.lock() = reserved;
        Ok::<_, Infallible>(event)
    });
    let sse = Sse::new(tokio_stream::once(Ok(first)).chain(events))
        .keep_alive(KeepAlive::new().interval(keep_alive).text(keep_alive_text));
    let (parts, body) = sse.into_response().into_parts();
    Response::from_parts(parts, Body::new(Holding { inner: body, slot }))
}

/// `inner` (axum's SSE body), each data frame holding the reservation its
/// event parked in `slot`.
struct Holding {
    inner: Body,
    slot: Slot,
}

impl http_body::Body for Holding {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        // `Sse` makes one frame of an event in the poll that took it from
        // the queue; a keep-alive comment parks nothing.
        let reserved = self.slot.lock().take();
        match (polled, reserved) {
            (Poll::Ready(Some(Ok(frame))), Some(r)) => {
                let frame = frame.map_data(|bytes| r.hold(bytes));
                Poll::Ready(Some(Ok(frame)))
            }
            (polled, _) => polled,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use http_body_util::BodyExt as _;

    use super::*;
    use crate::inbox::budget::ByteBudget;

    /// An event's bytes stay counted after the body took it off the queue,
    /// until its frame is dropped (written), not only while it is queued.
    #[tokio::test]
    async fn a_frame_keeps_its_events_bytes_until_it_is_dropped() {
        let budget = ByteBudget::new(crate::inbox::ALL_STREAMS_BUFFER_BYTES);
        let stream = budget.for_stream(IpAddr::from([203, 0, 113, 1]), None);
        let (tx, rx) = mpsc::channel(4);
        let res = response(
            Event::default().comment("open"),
            rx,
            Duration::from_secs(60),
            "k",
        );
        let mut body = res.into_body();
        let reserved = budget.reserve(&stream, 1000).await;
        let event = Event::default().data("x".repeat(990));
        let queued = Outgoing {
            event,
            reserved: Some(reserved),
        };
        tx.send(Box::new(queued)).await.unwrap();

        let opened = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&opened[..], b": open\n\n");
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();

        assert!(frame.starts_with(b"data: xxx"));
        assert_eq!(
            budget.in_use(),
            1000,
            "taken off the queue, not yet written"
        );
        drop(frame);
        assert_eq!(budget.in_use(), 0);
    }
}
