//! What a hostile or broken client can and cannot do to a connection: windows it does not
//! respect or that leak, output it does not read, streams it resets, state it breaks.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{
    STALL, client, closes_with, exchange, finish, goaway, raw, request_block, server, upload,
};
use crate::http::h2codec::{Reason, frame};

/// Frames as (type, flags, stream) from a server's output.
fn frames(mut out: &[u8]) -> Vec<(u8, u8, u32)> {
    let mut all = Vec::new();
    while out.len() >= 9 {
        let len = (usize::from(out[0]) << 16) | (usize::from(out[1]) << 8) | usize::from(out[2]);
        let stream = u32::from_be_bytes([out[5], out[6], out[7], out[8]]);
        all.push((out[3], out[4], stream));
        out = out.get(9 + len..).unwrap_or_default();
    }
    all
}

fn headers(f: &mut BytesMut, stream: u32, block: &[u8], end_stream: bool) {
    let end = if end_stream { frame::END_STREAM } else { 0 };
    frame::put_head(
        f,
        block.len(),
        frame::HEADERS,
        frame::END_HEADERS | end,
        stream,
    );
    f.put_slice(block);
}

/// A client that stops reading while it floods PINGs, then reads again: the connection stops
/// reading too, and picks up where it stopped once its answers are out.
#[tokio::test]
async fn a_client_that_stops_reading_is_served_once_it_reads_again() {
    // A pipe larger than the connection's high-water mark, read in large pieces: one flush can
    // then drain all that made the connection stop reading.
    let (a, b) = tokio::io::duplex(512 * 1024);
    let (_task, _) = server(b);
    let mut f = BytesMut::new();
    for _ in 0..80_000 {
        frame::put_ping(&mut f, false, [1; 8]);
    }
    headers(&mut f, 1, &request_block("/x"), true);
    let bytes = raw(&f);
    let (mut read, mut write) = tokio::io::split(a);
    let writer = tokio::spawn(async move { write.write_all(&bytes).await });
    // Long enough for the server to fill its buffer and stop reading.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut out = Vec::new();
    let mut buf = vec![0; 1 << 20];
    let found = tokio::time::timeout(STALL, async {
        loop {
            let n = read.read(&mut buf).await.expect("read");
            assert!(n > 0, "connection closed");
            out.extend_from_slice(&buf[..n]);
            if frames(&out)
                .iter()
                .any(|&(k, _, s)| k == frame::HEADERS && s == 1)
            {
                return;
            }
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "no response after the client read its backlog"
    );
    writer.await.expect("task").expect("write");
    let pongs = frames(&out).iter().filter(|f| f.0 == frame::PING).count();
    assert_eq!(pongs, 80_000);
}

/// Uploads cut short (the stream took body bytes and ended without returning them) must give
/// their window back: otherwise a connection that sees a few dozen of them can upload no more.
#[tokio::test]
async fn uploads_cut_short_return_their_window() {
    let (mut send, _) = client().await;
    for _ in 0..48 {
        let req = Request::post("http://test.local/take")
            .body(())
            .expect("request");
        let (resp, mut up) = send.send_request(req, false).expect("send");
        up.send_data(Bytes::from(vec![b'b'; 32 * 1024]), false)
            .expect("data");
        let resp = tokio::time::timeout(STALL, resp)
            .await
            .expect("in time")
            .expect("response");
        assert_eq!(resp.status(), 200);
    }
    // 48 x 32 KiB is 1.5 MiB, more than the connection window: a final upload still flows.
    let req = Request::post("http://test.local/len")
        .body(())
        .expect("request");
    let (resp, mut up) = send.send_request(req, false).expect("send");
    let sent = tokio::time::timeout(STALL, async {
        upload(&mut up, 100_000).await;
        resp.await.expect("response")
    })
    .await
    .expect("the connection window was lost");
    assert_eq!(sent.status(), 200);
}

/// DATA past the connection window (each stream within its own) is a connection error.
#[tokio::test]
async fn data_beyond_the_connection_window_closes_the_connection() {
    let mut f = BytesMut::new();
    let chunk = vec![0u8; 16_384];
    for stream in [1, 3] {
        headers(&mut f, stream, &request_block("/wait"), false);
        for _ in 0..40 {
            frame::put_data(&mut f, stream, &chunk, false, 16_384);
        }
    }
    closes_with(&f, Reason::FLOW_CONTROL_ERROR).await;
}

/// Frames still in flight for a stream that was reset are ignored, trailers included.
#[tokio::test]
async fn frames_after_a_reset_are_ignored() {
    let mut f = BytesMut::new();
    headers(&mut f, 1, &request_block("/wait"), false);
    frame::put_reset(&mut f, 1, Reason::CANCEL);
    frame::put_data(&mut f, 1, b"late", false, 16_384);
    headers(&mut f, 1, &[], true);
    headers(&mut f, 3, &request_block("/x"), true);
    let (result, out) = exchange(raw(&f)).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(goaway(&out), None);
}

/// A HEADERS frame whose priority names its own stream is a stream error, but its block is
/// still decoded: the next request may refer to what it added to the dynamic table.
#[tokio::test]
async fn a_stream_error_in_headers_keeps_hpack_in_step() {
    let mut block = request_block("/x");
    // `x-a: 1`, literal with incremental indexing: dynamic entry 62.
    block.put_slice(&[0x40, 3, b'x', b'-', b'a', 1, b'1']);
    let mut f = BytesMut::new();
    frame::put_head(
        &mut f,
        block.len() + 5,
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM | 0x20,
        1,
    );
    f.put_u32(1);
    f.put_u8(16);
    f.put_slice(&block);
    let mut second = request_block("/x");
    second.put_u8(0x80 | 62);
    headers(&mut f, 3, &second, true);
    let (mut a, b) = tokio::io::duplex(1 << 20);
    let (_task, _) = server(b);
    a.write_all(&raw(&f)).await.expect("write");
    let mut out = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    tokio::time::timeout(STALL, async {
        while !frames(&out)
            .iter()
            .any(|&(k, _, s)| k == frame::HEADERS && s == 3)
        {
            let n = a.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed: {:?}", frames(&out));
            out.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("stream 3 answered");
    assert!(frames(&out).contains(&(frame::RST_STREAM, 0, 1)));
    assert_eq!(goaway(&out), None);
}

/// A client that gets most of its streams reset (here: bodies longer than their
/// content-length) is closed like one that resets them itself.
#[tokio::test]
async fn streams_reset_for_errors_count_towards_the_reset_limit() {
    let mut block = request_block("/len");
    block.put_slice(&[0x0f, 0x0d, 1, b'1']); // content-length: 1 (static name 28)
    let (mut a, b) = tokio::io::duplex(8 << 20);
    let (task, _) = server(b);
    a.write_all(&raw(&[])).await.expect("write");
    // In batches under the stream limit, with turns between for the streams to end.
    for batch in 0..6u32 {
        let mut f = BytesMut::new();
        for i in 0..50 {
            let stream = 2 * (batch * 50 + i) + 1;
            headers(&mut f, stream, &block, false);
            frame::put_data(&mut f, stream, b"xx", true, 16_384);
        }
        if a.write_all(&f).await.is_err() {
            break;
        }
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }
    let (result, out) = finish(a, task).await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(goaway(&out), Some(Reason::ENHANCE_YOUR_CALM.0));
}
