//! Writing the router's answer to a direct stream request straight to the
//! socket, in the bytes hyper would write: an event stream as chunks from
//! each frame's own buffer, anything else whole with its length (issue 14,
//! TODO #205).

use std::io;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header, response::Parts};
use axum::response::Response;
use http_body_util::{BodyExt as _, Limited};
use tokio::net::TcpStream;

use super::batch::{Batch, Ready, write_all};
use super::head::Keep;

/// Most bytes of a non-stream answer (a JSON error) written here; a larger
/// one ends the connection instead.
const MAX_WHOLE_BODY: usize = 64 * 1024;
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
    let mut batch = Batch::new(encode_head(&parts, &framing, keep), keep != Keep::Http10);
    drop(parts);
    // A body that already ended or failed is left to `pump`, which sees
    // the same again (an ended body keeps answering `None`).
    let _ = batch.take_ready(&mut body);
    batch.write(socket, write_timeout).await.ok()?;
    Some(body)
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
        let mut batch = Batch::new(Vec::new(), chunked);
        let state = match frame {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    batch.add(data);
                }
                // Events queued behind this one go in the same write.
                batch.take_ready(&mut body)
            }
            Some(Err(_)) => Ready::Failed,
            None => Ready::Ended,
        };
        // A failed body ends the connection without the last chunk.
        if state == Ready::Ended {
            batch.end();
        }
        // Boxed: a write waits (with a timer) only while the client is
        // slow, and an idle stream's task should not keep room for it.
        if !batch.is_empty() && Box::pin(batch.write(socket, write_timeout)).await.is_err() {
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
    let written = write_all(socket, &[&head, &body], write_timeout).await;
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
}
