//! The connection against a real HTTP/2 client (the `h2` crate) and against raw frames.

use std::future::poll_fn;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream::FuturesUnordered;
use http::{HeaderMap, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use super::super::body;
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

/// A small service (a stream the client reset just ends): `/len` answers with the request body's length, `/big` with BIG bytes,
/// `/trailers` with a body and trailers, `/wait` waits for the client's reset and reports it.
async fn service(req: Request<()>, s: StreamRef, resets: mpsc::UnboundedSender<Reason>) {
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
            let _ = body::send_data(&s, Bytes::from(n.to_string()), true, STALL).await;
        }
        "/big" => {
            if s.send_head(200, &headers, false).is_err() {
                return;
            }
            let _ = body::send_data(&s, Bytes::from(vec![b'x'; BIG]), true, STALL).await;
        }
        "/trailers" => {
            if s.send_head(200, &headers, false).is_err() {
                return;
            }
            let _ = body::send_data(&s, Bytes::from_static(b"body"), false, STALL).await;
            let mut t = HeaderMap::new();
            t.insert("grpc-status", "0".parse().expect("value"));
            let _ = s.send_trailers(&t);
        }
        "/wait" => {
            if s.send_head(200, &headers, false).is_err() {
                return;
            }
            let reason = poll_fn(|cx| s.poll_reset(cx)).await;
            let _ = resets.send(reason);
        }
        _ => {
            if s.send_head(200, &headers, false).is_err() {
                return;
            }
            let _ = body::send_data(&s, Bytes::from_static(b"hi"), true, STALL).await;
        }
    }
}

/// Serves one connection on `io`; `resets` gets what `/wait` saw.
fn server(
    io: DuplexStream,
) -> (
    tokio::task::JoinHandle<Result<(), ConnError>>,
    mpsc::UnboundedReceiver<Reason>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut conn = Conn::new(io, settings());
        let mut streams = FuturesUnordered::new();
        conn.run(&mut streams, |req, s| service(req, s, tx.clone()))
            .await
    });
    (task, rx)
}

async fn client() -> (
    h2::client::SendRequest<Bytes>,
    mpsc::UnboundedReceiver<Reason>,
) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (_task, resets) = server(b);
    let (send, conn) = h2::client::handshake(a).await.expect("handshake");
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
    let mut left = BIG;
    while left > 0 {
        let n = left.min(100_000);
        up.reserve_capacity(n);
        let cap = poll_fn(|cx| up.poll_capacity(cx))
            .await
            .expect("capacity")
            .expect("open");
        let n = n.min(cap);
        up.send_data(Bytes::from(vec![b'u'; n]), false)
            .expect("data");
        left -= n;
    }
    up.send_data(Bytes::new(), true).expect("end");
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
    assert_eq!(seen, Some(Reason::CANCEL));
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
    a.shutdown().await.expect("shutdown");
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
    let (result, out) = exchange(raw(&f)).await;
    assert!(
        matches!(
            result,
            Err(ConnError::Protocol {
                reason: Reason::COMPRESSION_ERROR,
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(goaway(&out), Some(Reason::COMPRESSION_ERROR.0));

    // DATA on a stream never opened.
    let mut f = BytesMut::new();
    frame::put_data(&mut f, 3, b"x", true, 16_384);
    let (result, out) = exchange(raw(&f)).await;
    assert!(
        matches!(
            result,
            Err(ConnError::Protocol {
                reason: Reason::PROTOCOL_ERROR,
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(goaway(&out), Some(Reason::PROTOCOL_ERROR.0));

    // CONTINUATION without HEADERS; a frame over our maximum size.
    let mut f = BytesMut::new();
    frame::put_head(&mut f, 0, frame::CONTINUATION, frame::END_HEADERS, 1);
    let (result, _) = exchange(raw(&f)).await;
    assert!(matches!(
        result,
        Err(ConnError::Protocol {
            reason: Reason::PROTOCOL_ERROR,
            ..
        })
    ));
    let mut f = BytesMut::new();
    frame::put_head(&mut f, 16_385, frame::DATA, 0, 1);
    let (result, _) = exchange(raw(&f)).await;
    assert!(matches!(
        result,
        Err(ConnError::Protocol {
            reason: Reason::FRAME_SIZE_ERROR,
            ..
        })
    ));

    // Not HTTP/2 at all.
    let (result, _) = exchange(b"GET / HTTP/1.1\r\n\r\n".to_vec()).await;
    assert!(matches!(result, Err(ConnError::Preface)), "{result:?}");
}

#[tokio::test]
async fn a_client_that_closes_ends_the_connection_cleanly() {
    let (result, out) = exchange(raw(&[])).await;
    assert!(result.is_ok(), "{result:?}");
    // Our SETTINGS, its window, and the ACK of the client's SETTINGS.
    assert_eq!(out[3], frame::SETTINGS);
    assert!(goaway(&out).is_none());
}

/// xorshift64*: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
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

/// Frames of every type with random flags, streams and payloads (some of them well-formed
/// requests and bodies) must never panic the connection or leave it hanging once the client
/// is gone.
#[tokio::test]
async fn random_frames_end_in_an_answer_or_an_error_never_a_hang() {
    let mut noise = Noise(0x5eed_1234_abcd_9876);
    for round in 0..300 {
        let mut f = BytesMut::new();
        for _ in 0..noise.below(12) + 1 {
            let stream = [0, 1, 1, 3, 5, 2, 0x7fff_ffff][noise.below(7) as usize] as u32;
            let kind = noise.below(11) as u8;
            let flags = noise.next() as u8;
            let payload: Vec<u8> = match (kind, noise.below(3)) {
                (frame::HEADERS, 0) => request_block("/len").to_vec(),
                (frame::WINDOW_UPDATE | frame::RST_STREAM, _) => {
                    (noise.next() as u32).to_be_bytes().to_vec()
                }
                (frame::SETTINGS, _) => {
                    let mut p = Vec::new();
                    for _ in 0..noise.below(3) {
                        p.extend_from_slice(&(noise.below(8) as u16 + 1).to_be_bytes());
                        p.extend_from_slice(&(noise.next() as u32).to_be_bytes());
                    }
                    p
                }
                _ => (0..noise.below(40)).map(|_| noise.next() as u8).collect(),
            };
            frame::put_head(&mut f, payload.len(), kind, flags, stream);
            f.put_slice(&payload);
        }
        let (result, _) = exchange(raw(&f)).await;
        // Either outcome is fine; what matters is that there is one, in time, without a panic.
        if let Err(e) = &result {
            assert!(
                !matches!(e, ConnError::Keepalive | ConnError::NoPreface),
                "round {round}: {e}"
            );
        }
    }
}

/// Mostly well-formed conversations (requests, bodies, windows, settings, resets, trailers on
/// a few streams) with the odd broken frame: deeper states than random bytes reach.
#[tokio::test]
async fn plausible_conversations_end_cleanly_or_with_an_error() {
    let mut noise = Noise(0x0dd5_eed5_1357_9bdf);
    let mut clean = 0;
    for round in 0..300 {
        let mut f = BytesMut::new();
        let mut next_id = 1u32;
        let mut open: Vec<u32> = Vec::new();
        for _ in 0..noise.below(30) + 1 {
            let on = open
                .get(noise.below(open.len().max(1) as u64) as usize)
                .copied();
            match (noise.below(10), on) {
                (0..=2, _) | (_, None) => {
                    let block = request_block(if noise.below(2) == 0 { "/len" } else { "/x" });
                    let end = if noise.below(3) == 0 {
                        frame::END_STREAM
                    } else {
                        0
                    };
                    frame::put_head(
                        &mut f,
                        block.len(),
                        frame::HEADERS,
                        frame::END_HEADERS | end,
                        next_id,
                    );
                    f.put_slice(&block);
                    open.push(next_id);
                    next_id += 2;
                }
                (3..=4, Some(id)) => {
                    let len = noise.below(40_000) as usize;
                    frame::put_data(&mut f, id, &vec![b'd'; len], noise.below(3) == 0, 16_384);
                }
                (5, Some(id)) => {
                    let inc = [1, 1 << 20, 0x7fff_ffff][noise.below(3) as usize];
                    frame::put_window_update(&mut f, [0, id][noise.below(2) as usize], inc);
                }
                (6, _) => {
                    let id = noise.below(6) as u16 + 1;
                    let value = [0, 1, 16_384, 65_535, 1 << 24, 0x7fff_ffff, u32::MAX]
                        [noise.below(7) as usize];
                    frame::put_settings(&mut f, &[(id, value)]);
                }
                (7, Some(id)) => frame::put_reset(&mut f, id, Reason::CANCEL),
                (8, Some(id)) => {
                    // Trailers, or a stray CONTINUATION.
                    let mut b = BytesMut::new();
                    hpack::field(&mut b, b"x-t", b"1");
                    let kind = if noise.below(4) == 0 {
                        frame::CONTINUATION
                    } else {
                        frame::HEADERS
                    };
                    frame::put_head(
                        &mut f,
                        b.len(),
                        kind,
                        frame::END_HEADERS | frame::END_STREAM,
                        id,
                    );
                    f.put_slice(&b);
                }
                _ => frame::put_ping(&mut f, false, [7; 8]),
            }
        }
        let (result, out) = exchange_after(raw(&f), 20).await;
        if let Err(e) = &result {
            assert!(
                !matches!(e, ConnError::Keepalive | ConnError::NoPreface),
                "round {round}: {e}"
            );
        } else {
            clean += 1;
            assert!(
                goaway(&out).is_none(),
                "round {round}: GOAWAY on a clean close"
            );
        }
    }
    assert!(
        clean > 50,
        "only {clean} of 300 conversations were valid: the generator drifted"
    );
}
