//! Writing the router's answer to a direct stream request straight to the
//! socket, in the bytes hyper would write: an event stream as chunks from
//! each frame's own buffer, anything else whole with its length (issue 14,
//! TODO #205).

use std::io::{self, IoSlice};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header, response::Parts};
use axum::response::Response;
use futures_util::FutureExt as _;
use http_body_util::{BodyExt as _, Limited};
use tokio::net::TcpStream;

use super::head::Keep;

/// Most bytes of a non-stream answer (a JSON error) written here; a larger
/// one ends the connection instead.
const MAX_WHOLE_BODY: usize = 64 * 1024;
/// The last chunk of a chunked body.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
/// Most bytes of frames already waiting that go out in one write (with
/// the head, or with the frame that woke the stream): `: open` and a
/// replay's first events reach the socket in one system call instead of
/// one each (issue 14: stream opens). Taking an event off the stream's
/// queue frees its share of the stream's byte budget, so a slow client can
/// hold up to this much (plus one frame) beyond that budget while a write
/// waits; nothing is kept between writes.
const MAX_COALESCED: usize = 16 * 1024;

/// How a response's body is framed.
enum Framing {
    Chunked,
    Length(usize),
    /// Until the connection closes (an HTTP/1.0 stream).
    Close,
}

/// Whether `res` is an event stream (the stream route's success).
pub(super) fn is_event_stream(res: &Response) -> bool {
    res.status() == StatusCode::OK
        && res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

/// Writes `res`'s head (chunked, or close-delimited over HTTP/1.0) with
/// the body's frames already ready; the rest of the body, to [`pump`],
/// unless the client stopped reading.
pub(super) async fn write_head(
    socket: &TcpStream,
    res: Response,
    keep: Keep,
    write_timeout: Duration,
) -> Option<Body> {
    let (parts, mut body) = res.into_parts();
    let framing = if keep == Keep::Http10 {
        Framing::Close
    } else {
        Framing::Chunked
    };
    let mut out = encode_head(&parts, &framing, keep);
    drop(parts);
    // A body that already ended or failed is left to `pump`, which sees
    // the same again (an ended body keeps answering `None`).
    let _ = take_ready(&mut body, &mut out, keep != Keep::Http10);
    write_all(socket, [&out, &[], &[]], write_timeout)
        .await
        .ok()?;
    Some(body)
}

/// How a body stood once [`take_ready`] stopped.
#[derive(PartialEq, Eq)]
enum Ready {
    /// Nothing more was waiting (or the byte budget was reached).
    Waiting,
    Ended,
    Failed,
}

/// Appends `data` to `out`, as a chunk when `chunked`.
fn append_frame(out: &mut Vec<u8>, data: &[u8], chunked: bool) {
    // An empty chunk would end the body (hyper skips empty frames too).
    if data.is_empty() {
        return;
    }
    if chunked {
        out.extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(data);
    }
}

/// Appends the frames `body` has ready now, without waiting, until about
/// [`MAX_COALESCED`] bytes are in `out`. It polls with a no-op waker: the
/// caller must poll `body` again with its own (as `pump` does) before it
/// waits on it.
fn take_ready(body: &mut Body, out: &mut Vec<u8>, chunked: bool) -> Ready {
    while out.len() < MAX_COALESCED {
        match body.frame().now_or_never() {
            None => return Ready::Waiting,
            Some(None) => return Ready::Ended,
            Some(Some(Err(_))) => return Ready::Failed,
            Some(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    append_frame(out, &data, chunked);
                }
            }
        }
    }
    Ready::Waiting
}

/// Writes `body`'s frames as they come (as chunks, or bare when `chunked`
/// is false: a close-delimited body), those already queued behind one in
/// the same write, until it ends (then the last chunk), the client leaves
/// or sends anything, or a write makes no progress for `write_timeout`.
/// Nothing is kept here between writes.
pub(super) async fn pump(
    socket: &TcpStream,
    mut body: Body,
    chunked: bool,
    write_timeout: Duration,
) {
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            () = client_left(socket) => return,
        };
        let mut out = Vec::new();
        let state = match frame {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    append_frame(&mut out, &data, chunked);
                }
                // Events queued behind this one go in the same write.
                take_ready(&mut body, &mut out, chunked)
            }
            Some(Err(_)) => Ready::Failed,
            None => Ready::Ended,
        };
        // A failed body ends the connection without the last chunk.
        if state == Ready::Ended && chunked {
            out.extend_from_slice(LAST_CHUNK);
        }
        // Boxed: a write waits (with a timer) only while the client is
        // slow, and an idle stream's task should not keep room for it.
        if !out.is_empty()
            && Box::pin(write_all(socket, [&out, &[], &[]], write_timeout))
                .await
                .is_err()
        {
            tracing::debug!("stream client stopped reading; closing its connection");
            return;
        }
        if state != Ready::Waiting {
            return;
        }
    }
}

/// Writes `res` whole with its `content-length`; `true` when the connection
/// may serve another request (kept alive, no `connection: close`).
pub(super) async fn whole(
    socket: &TcpStream,
    res: Response,
    keep: Keep,
    write_timeout: Duration,
) -> bool {
    let (parts, body) = res.into_parts();
    let collected =
        tokio::time::timeout(write_timeout, Limited::new(body, MAX_WHOLE_BODY).collect()).await;
    let Ok(Ok(body)) = collected else {
        return false;
    };
    let body = body.to_bytes();
    let head = encode_head(&parts, &Framing::Length(body.len()), keep);
    let written = write_all(socket, [&head, &body, &[]], write_timeout).await;
    written.is_ok() && keep == Keep::Alive && !connection_close(&parts.headers)
}

/// Resolves once the client hung up, failed, or sent anything: SSE answers
/// no second request, so pipelined bytes end the connection too.
async fn client_left(socket: &TcpStream) {
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        match socket.try_read(&mut [0u8; 1]) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Ok(_) | Err(_) => return,
        }
    }
}

/// Writes `parts` in order (vectored), each wait for the socket bounded by
/// `timeout`, as `tokio_io_timeout` bounds hyper's writes.
async fn write_all(socket: &TcpStream, parts: [&[u8]; 3], timeout: Duration) -> io::Result<()> {
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

/// `parts` without their first `skip` bytes.
fn remaining(parts: [&[u8]; 3], mut skip: usize) -> [IoSlice<'_>; 3] {
    parts.map(|p| {
        let cut = skip.min(p.len());
        skip -= cut;
        IoSlice::new(&p[cut..])
    })
}

/// The status line and headers as hyper 1.x writes them: the response's
/// headers in order (`connection: close` added after them when the client
/// asked for it over HTTP/1.1), then the framing header, then `date`; an
/// `HTTP/1.0` status line for an HTTP/1.0 client.
fn encode_head(parts: &Parts, framing: &Framing, keep: Keep) -> Vec<u8> {
    let mut head = Vec::with_capacity(512);
    let status = parts.status;
    head.extend_from_slice(if keep == Keep::Http10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if keep == Keep::Close && !connection_close(&parts.headers) {
        head.extend_from_slice(b"connection: close\r\n");
    }
    match framing {
        Framing::Close => {}
        Framing::Chunked => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Length(_) if parts.headers.contains_key(header::CONTENT_LENGTH) => {}
        Framing::Length(n) => head.extend_from_slice(format!("content-length: {n}\r\n").as_bytes()),
    }
    if !parts.headers.contains_key(header::DATE) {
        head.extend_from_slice(b"date: ");
        head.extend_from_slice(httpdate::fmt_http_date(SystemTime::now()).as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// A `connection: close` among `headers`.
fn connection_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_written_as_hyper_writes_it() {
        let res = Response::builder()
            .status(401)
            .header("content-type", "application/json")
            .header("x-a", "1")
            .body(Body::empty())
            .unwrap();
        let (parts, _) = res.into_parts();
        let head =
            String::from_utf8(encode_head(&parts, &Framing::Length(7), Keep::Alive)).unwrap();
        let (before, date) = head.split_once("date: ").unwrap();
        assert_eq!(
            before,
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nx-a: 1\r\ncontent-length: 7\r\n"
        );
        assert!(date.ends_with(" GMT\r\n\r\n"), "{date}");
    }

    fn body_of(frames: Vec<&'static str>, then_wait: bool) -> Body {
        let ready = futures_util::stream::iter(
            frames
                .into_iter()
                .map(|f| Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(f))),
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
        let mut out = b"head\r\n\r\n".to_vec();
        let state = take_ready(
            &mut body_of(vec![": open\n\n", "id: 1\n\n"], true),
            &mut out,
            true,
        );
        assert!(state == Ready::Waiting);
        assert_eq!(out, b"head\r\n\r\n8\r\n: open\n\n\r\n7\r\nid: 1\n\n\r\n");

        // An empty frame is skipped, not written as the last chunk.
        let mut skipped = Vec::new();
        take_ready(&mut body_of(vec!["", "a"], true), &mut skipped, true);
        assert_eq!(skipped, b"1\r\na\r\n");

        let mut bare = Vec::new();
        let state = take_ready(&mut body_of(vec!["a", "bc"], false), &mut bare, false);
        assert!(state == Ready::Ended);
        assert_eq!(bare, b"abc");
    }

    #[test]
    fn one_write_takes_at_most_about_the_budget() {
        let big: &'static str = "x".repeat(10 * 1024).leak();
        let mut body = body_of(vec![big, big, big, big], false);
        let mut out = Vec::new();
        assert!(take_ready(&mut body, &mut out, true) == Ready::Waiting);
        // Two frames pass the 16 KiB budget; the other two wait their turn.
        assert!(out.len() > MAX_COALESCED && out.len() < 2 * MAX_COALESCED);
        let mut rest = Vec::new();
        assert!(take_ready(&mut body, &mut rest, true) == Ready::Waiting);
        assert!(take_ready(&mut body, &mut Vec::new(), true) == Ready::Ended);
        assert_eq!(out.len(), rest.len());
    }

    /// An error answer hands the connection on (to hyper) only when the
    /// client keeps it alive; its status line speaks the client's version.
    #[tokio::test]
    async fn an_error_answer_ends_a_closing_or_http10_connection() {
        use tokio::io::AsyncReadExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        for (keep, status, goes_on) in [
            (Keep::Alive, "HTTP/1.1 401 Unauthorized\r\n", true),
            (Keep::Close, "HTTP/1.1 401 Unauthorized\r\n", false),
            (Keep::Http10, "HTTP/1.0 401 Unauthorized\r\n", false),
        ] {
            let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let res = Response::builder()
                .status(401)
                .body(Body::from("{}"))
                .unwrap();
            let on = whole(&server, res, keep, Duration::from_secs(5)).await;
            assert_eq!(on, goes_on, "{keep:?}");
            drop(server);
            let mut got = String::new();
            client.read_to_string(&mut got).await.unwrap();
            assert!(got.starts_with(status), "{got}");
            assert_eq!(
                got.contains("connection: close\r\n"),
                keep == Keep::Close,
                "{got}"
            );
            assert!(got.ends_with("\r\n\r\n{}"), "{got}");
        }
    }

    #[test]
    fn remaining_skips_whole_and_partial_parts() {
        let parts: [&[u8]; 3] = [b"ab", b"cde", b"f"];
        let left = remaining(parts, 3);
        let lens: Vec<usize> = left.iter().map(|s| s.len()).collect();
        assert_eq!(lens, [0, 2, 1]);
    }
}
