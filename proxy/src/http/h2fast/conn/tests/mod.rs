//! The connection against a real HTTP/2 client (the `h2` crate) and against raw frames;
//! `abuse`: what a hostile or broken client can and cannot do; `fuzz`: random input.

mod abuse;
mod drain;
mod fuzz;

use std::future::poll_fn;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use super::super::body;
use super::super::running::Running;
use super::super::shared::StreamRef;
use super::{Conn, ConnError, Settings};
use crate::http::h2codec::{Reason, frame, hpack};

const STALL: Duration = Duration::from_secs(10);
const BIG: usize = 3 * 1024 * 1024 + 17;

fn settings() -> Settings {
    Settings {
        max_streams: 100,
        max_header_list: 16 * 1024,
        keepalive: Duration::from_secs(60),
        preface_timeout: Duration::from_secs(5),
    }
}

/// What a stream of [`service`] saw, for the test to check.
#[derive(Debug, PartialEq)]
enum Saw {
    /// `/wait`: the client reset the stream.
    Reset(Reason),
    /// `/whole`: whether the body went with the head.
    Whole(bool),
}

/// The body `/whole` answers with.
const WHOLE: [u8; 100] = [b'w'; 100];

/// A small service (a stream the client reset just ends): `/len` answers with the request
/// body's length, `/big` with BIG bytes, `/trailers` with a body and trailers, `/wait` waits for
/// the client's reset and reports it, `/whole` sends WHOLE with its head if the window allows
/// and reports whether it did.
async fn service(req: Request<()>, s: StreamRef, saw: mpsc::UnboundedSender<Saw>) {
    let mut headers = HeaderMap::new();
    headers.insert("x-path", req.uri().path().parse().expect("value"));
    match req.uri().path() {
        "/len" => {
            let mut n = 0;
            while let Some(Ok(d)) = s.data().await {
                n += d.len();
                s.release(d.len());
            }
            if s.send_head(200, &headers, false).is_err() {
                return;
            }
            let _ = body::send_data(&s, n.to_string().as_bytes(), true, STALL).await;
        }
        "/big" => {
            if s.send_head(200, &headers, false).is_err() {
                return;
            }
            let _ = body::send_data(&s, &vec![b'x'; BIG], true, STALL).await;
        }
        "/trailers" => {
            if s.send_head(200, &headers, false).is_err() {
                return;
            }
            let _ = body::send_data(&s, b"body", false, STALL).await;
            let mut t = HeaderMap::new();
            t.insert("grpc-status", "0".parse().expect("value"));
            let _ = s.send_trailers(&t);
        }
        // Takes one chunk of the body and never returns it to the window (an upload cut short).
        "/take" => {
            let _ = s.data().await;
            let _ = s.send_head(200, &headers, true);
        }
        "/wait" => {
            if s.send_head(200, &headers, false).is_err() {
                return;
            }
            let reason = poll_fn(|cx| s.poll_reset(cx)).await;
            let _ = saw.send(Saw::Reset(reason));
        }
        "/whole" => {
            let mut fields = BytesMut::new();
            hpack::field(&mut fields, b"x-path", b"/whole");
            let Ok(whole) = s.send_whole(200, &fields, &WHOLE) else {
                return;
            };
            let _ = saw.send(Saw::Whole(whole));
            if !whole {
                let _ = body::send_data(&s, &WHOLE, true, STALL).await;
            }
        }
        _ => {
            if s.send_head(200, &headers, false).is_err() {
                return;
            }
            let _ = body::send_data(&s, b"hi", true, STALL).await;
        }
    }
}

/// Serves one connection on `io`; the receiver gets what the streams saw.
fn server(
    io: DuplexStream,
) -> (
    tokio::task::JoinHandle<Result<(), ConnError>>,
    mpsc::UnboundedReceiver<Saw>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut conn = Conn::new(io, settings());
        let running = std::pin::pin!(Running::new());
        conn.run(running, |req, s| service(req, s, tx.clone()))
            .await
    });
    (task, rx)
}

async fn client() -> (h2::client::SendRequest<Bytes>, mpsc::UnboundedReceiver<Saw>) {
    client_with(h2::client::Builder::new()).await
}

async fn client_with(
    builder: h2::client::Builder,
) -> (h2::client::SendRequest<Bytes>, mpsc::UnboundedReceiver<Saw>) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (_task, resets) = server(b);
    let (send, conn) = builder.handshake(a).await.expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, resets)
}

async fn body_of(resp: http::Response<h2::RecvStream>) -> Vec<u8> {
    let mut body = resp.into_body();
    let mut all = Vec::new();
    while let Some(d) = body.data().await {
        let d = d.expect("data");
        let _ = body.flow_control().release_capacity(d.len());
        all.extend_from_slice(&d);
    }
    all
}

fn get(path: &str) -> Request<()> {
    Request::get(format!("http://test.local{path}"))
        .body(())
        .expect("request")
}

#[tokio::test]
async fn a_request_gets_its_response() {
    let (mut send, _) = client().await;
    let (resp, _) = send.send_request(get("/x"), true).expect("send");
    let resp = resp.await.expect("response");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-path"], "/x");
    assert_eq!(body_of(resp).await, b"hi");
}

#[tokio::test]
async fn bodies_larger_than_every_window_flow_both_ways() {
    let (mut send, _) = client().await;
    // Upload: more than our 1 MiB windows, so WINDOW_UPDATEs must come back.
    let req = Request::post("http://test.local/len")
        .body(())
        .expect("request");
    let (resp, mut up) = send.send_request(req, false).expect("send");
    upload(&mut up, BIG).await;
    let resp = resp.await.expect("response");
    assert_eq!(body_of(resp).await, BIG.to_string().as_bytes());
    // Download: more than the client's 64 KiB default window.
    let (resp, _) = send.send_request(get("/big"), true).expect("send");
    let body = body_of(resp.await.expect("response")).await;
    assert_eq!(body.len(), BIG);
}

#[tokio::test]
async fn many_streams_at_once() {
    let (send, _) = client().await;
    let mut all = Vec::new();
    for i in 0..50 {
        let mut send = send.clone();
        all.push(tokio::spawn(async move {
            let (resp, _) = send
                .send_request(get(&format!("/s{i}")), true)
                .expect("send");
            let resp = resp.await.expect("response");
            assert_eq!(resp.headers()["x-path"], format!("/s{i}").as_str());
            body_of(resp).await
        }));
    }
    for t in all {
        assert_eq!(t.await.expect("task"), b"hi");
    }
}

#[tokio::test]
async fn trailers_end_the_response() {
    let (mut send, _) = client().await;
    let (resp, _) = send.send_request(get("/trailers"), true).expect("send");
    let mut body = resp.await.expect("response").into_body();
    let mut all = Vec::new();
    while let Some(d) = body.data().await {
        all.extend_from_slice(&d.expect("data"));
    }
    assert_eq!(all, b"body");
    let trailers = body.trailers().await.expect("trailers").expect("some");
    assert_eq!(trailers["grpc-status"], "0");
}

#[tokio::test]
async fn a_client_reset_reaches_the_stream() {
    let (mut send, mut resets) = client().await;
    let (resp, mut up) = send.send_request(get("/wait"), false).expect("send");
    let _head = resp.await.expect("response");
    up.send_reset(h2::Reason::CANCEL);
    let seen = tokio::time::timeout(STALL, resets.recv())
        .await
        .expect("in time");
    assert_eq!(seen, Some(Saw::Reset(Reason::CANCEL)));
}

/// A body the client's window has room for goes with the head, ending the stream; one it has
/// not goes after it, as the window opens.
#[tokio::test]
async fn a_small_body_goes_with_its_head_when_the_window_allows() {
    for (window, whole) in [(65_535, true), (100, true), (99, false), (1, false)] {
        let mut builder = h2::client::Builder::new();
        builder.initial_window_size(window);
        let (mut send, mut saw) = client_with(builder).await;
        let (resp, _) = send.send_request(get("/whole"), true).expect("send");
        let resp = resp.await.expect("response");
        assert_eq!(resp.headers()["x-path"], "/whole");
        let seen = tokio::time::timeout(STALL, saw.recv())
            .await
            .expect("in time");
        assert_eq!(seen, Some(Saw::Whole(whole)), "window {window}");
        let body = tokio::time::timeout(STALL, body_of(resp))
            .await
            .expect("body in time");
        assert_eq!(body, WHOLE, "window {window}");
    }
}

/// Raw client bytes: preface, an empty SETTINGS, then `frames`.
fn raw(frames: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_slice(frame::PREFACE);
    frame::put_settings(&mut b, &[]);
    b.put_slice(frames);
    b.to_vec()
}

/// Sends `bytes` and returns the connection's result and everything it wrote.
async fn exchange(bytes: Vec<u8>) -> (Result<(), ConnError>, Vec<u8>) {
    exchange_after(bytes, 0).await
}

/// Sends `bytes`, lets the connection and its streams run for `turns` scheduler turns, then
/// closes the client side.
async fn exchange_after(bytes: Vec<u8>, turns: usize) -> (Result<(), ConnError>, Vec<u8>) {
    let (mut a, b) = tokio::io::duplex(8 << 20);
    let (task, _) = server(b);
    a.write_all(&bytes).await.expect("write");
    for _ in 0..turns {
        tokio::task::yield_now().await;
    }
    finish(a, task).await
}

/// Closes the client side, then returns the connection's result and everything it wrote.
async fn finish(
    mut a: DuplexStream,
    task: tokio::task::JoinHandle<Result<(), ConnError>>,
) -> (Result<(), ConnError>, Vec<u8>) {
    let _ = a.shutdown().await;
    let result = tokio::time::timeout(STALL, task)
        .await
        .expect("in time")
        .expect("task");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_millis(200), a.read_to_end(&mut out)).await;
    (result, out)
}

/// The GOAWAY error code in `out`, if there is a GOAWAY.
fn goaway(mut out: &[u8]) -> Option<u32> {
    while out.len() >= 9 {
        let len = (usize::from(out[0]) << 16) | (usize::from(out[1]) << 8) | usize::from(out[2]);
        if out[3] == frame::GOAWAY {
            return Some(u32::from_be_bytes([out[13], out[14], out[15], out[16]]));
        }
        out = &out[9 + len..];
    }
    None
}

#[tokio::test]
async fn broken_input_closes_the_connection_with_the_right_code() {
    // A header block that is not HPACK (index 0).
    let mut f = BytesMut::new();
    frame::put_head(
        &mut f,
        1,
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM,
        1,
    );
    f.put_u8(0x80);
    closes_with(&f, Reason::COMPRESSION_ERROR).await;
    // DATA on a stream never opened.
    let mut f = BytesMut::new();
    frame::put_data(&mut f, 3, b"x", true, 16_384);
    closes_with(&f, Reason::PROTOCOL_ERROR).await;
    // CONTINUATION without HEADERS; a frame over our maximum size.
    let mut f = BytesMut::new();
    frame::put_head(&mut f, 0, frame::CONTINUATION, frame::END_HEADERS, 1);
    closes_with(&f, Reason::PROTOCOL_ERROR).await;
    let mut f = BytesMut::new();
    frame::put_head(&mut f, 16_385, frame::DATA, 0, 1);
    closes_with(&f, Reason::FRAME_SIZE_ERROR).await;

    // Not HTTP/2 at all.
    let (result, _) = exchange(b"GET / HTTP/1.1\r\n\r\n".to_vec()).await;
    assert!(matches!(result, Err(ConnError::Preface)), "{result:?}");
}

/// After the preface, `frames` end the connection with a GOAWAY carrying `reason`.
async fn closes_with(frames: &[u8], reason: Reason) {
    let (result, out) = exchange(raw(frames)).await;
    match result {
        Err(ConnError::Protocol { reason: r, .. }) => assert_eq!(r, reason),
        other => panic!("expected {reason}, got {other:?}"),
    }
    assert_eq!(goaway(&out), Some(reason.0));
}

#[tokio::test]
async fn a_client_that_closes_ends_the_connection_cleanly() {
    let (result, out) = exchange(raw(&[])).await;
    assert!(result.is_ok(), "{result:?}");
    // Our SETTINGS, its window, and the ACK of the client's SETTINGS.
    assert_eq!(out[3], frame::SETTINGS);
    assert!(goaway(&out).is_none());
}

/// A plausible request header block for `path`.
fn request_block(path: &str) -> BytesMut {
    let mut b = BytesMut::new();
    for (n, v) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "t"),
        (":path", path),
    ] {
        hpack::field(&mut b, n.as_bytes(), v.as_bytes());
    }
    b
}

/// Sends `len` body bytes as the stream's window allows, then ends the stream.
async fn upload(up: &mut h2::SendStream<Bytes>, len: usize) {
    let mut left = len;
    while left > 0 {
        up.reserve_capacity(left.min(100_000));
        let cap = poll_fn(|cx| up.poll_capacity(cx))
            .await
            .expect("capacity")
            .expect("open");
        let n = cap.min(left);
        up.send_data(Bytes::from(vec![b'u'; n]), false)
            .expect("data");
        left -= n;
    }
    up.send_data(Bytes::new(), true).expect("end");
}

/// A large body grows the shared write buffer; once it is written, an idle connection holds
/// OUT_START again, not the peak.
#[tokio::test]
async fn the_write_buffer_shrinks_back_after_a_large_body() {
    use super::super::shared::{OUT_KEEP, OUT_START, lock};
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (tx, _resets) = mpsc::unbounded_channel();
    let mut conn = Conn::new(b, settings());
    let shared = std::sync::Arc::clone(&conn.shared);
    tokio::spawn(async move {
        let running = std::pin::pin!(Running::new());
        conn.run(running, |req, s| service(req, s, tx.clone()))
            .await
    });
    // Windows of 4 MiB: the whole body is sendable at once, so it all queues in the buffer.
    let (mut send, h2conn) = h2::client::Builder::new()
        .initial_window_size(4 << 20)
        .initial_connection_window_size(4 << 20)
        .handshake::<_, Bytes>(a)
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = h2conn.await;
    });
    let (resp, _) = send.send_request(get("/big"), true).expect("send");
    let resp = resp.await.expect("response");
    let mut body = resp.into_body();
    let first = body.data().await.expect("data").expect("data");
    let peak = lock(&shared).out.capacity();
    assert!(peak > OUT_KEEP, "the body did not queue: capacity {peak}");
    let mut n = first.len();
    let _ = body.flow_control().release_capacity(first.len());
    while let Some(d) = body.data().await {
        let d = d.expect("data");
        n += d.len();
        let _ = body.flow_control().release_capacity(d.len());
    }
    assert_eq!(n, BIG);
    let idle = lock(&shared).out.capacity();
    assert_eq!(
        idle, OUT_START,
        "the buffer kept {idle} bytes after growing to {peak}"
    );
}
