//! The graceful close in RFC 9113 section 6.8's two steps, with raw frames: a stream the client
//! opens after our first GOAWAY (it had not seen it yet) is served, and the final GOAWAY, once
//! the client answered the PING, names it.

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, oneshot};

use super::super::super::running::Running;
use super::super::{Conn, DRAIN_PING, MAX_STREAM_ID};
use super::{STALL, raw, request_block, service, settings};
use crate::http::h2codec::frame;

/// A frame the server wrote: type, flags, stream and payload.
type Frame = (u8, u8, u32, Vec<u8>);

/// Reads from the server until `want` holds for a frame (returned), answering nothing.
async fn read_until(
    a: &mut DuplexStream,
    buf: &mut Vec<u8>,
    want: impl Fn(&Frame) -> bool,
) -> Frame {
    loop {
        while buf.len() >= 9 {
            let len =
                (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let id = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & MAX_STREAM_ID;
            let f = (buf[3], buf[4], id, buf[9..9 + len].to_vec());
            buf.drain(..9 + len);
            if want(&f) {
                return f;
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(STALL, a.read(&mut chunk))
            .await
            .expect("in time")
            .expect("read");
        assert!(n > 0, "the connection closed first");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn last_stream(f: &Frame) -> u32 {
    u32::from_be_bytes([f.3[0], f.3[1], f.3[2], f.3[3]])
}

#[tokio::test]
async fn a_graceful_close_serves_streams_until_the_client_answers_its_ping() {
    let (mut a, b) = tokio::io::duplex(1 << 20);
    let (stop, stopped) = oneshot::channel::<()>();
    let (saw, _) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut conn = Conn::new(b, settings());
        let mut running = std::pin::pin!(Running::new());
        tokio::select! {
            r = conn.run(running.as_mut(), |req, s| service(req, s, saw.clone())) => return r,
            _ = stopped => {}
        }
        conn.graceful_shutdown();
        conn.run(running.as_mut(), |req, s| service(req, s, saw.clone()))
            .await
    });
    a.write_all(&raw(&[])).await.expect("preface");
    let _ = stop.send(());
    let mut buf = Vec::new();
    let first = read_until(&mut a, &mut buf, |f| f.0 == frame::GOAWAY).await;
    assert_eq!(last_stream(&first), MAX_STREAM_ID);
    let ping = read_until(&mut a, &mut buf, |f| {
        f.0 == frame::PING && f.1 & frame::ACK == 0
    })
    .await;
    assert_eq!(ping.3, DRAIN_PING);

    // A stream sent before the client saw the GOAWAY: served.
    let block = request_block("/x");
    let mut f = BytesMut::new();
    frame::put_head(
        &mut f,
        block.len(),
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM,
        1,
    );
    f.put_slice(&block);
    a.write_all(&f).await.expect("request");
    let head = read_until(&mut a, &mut buf, |f| f.0 == frame::HEADERS && f.2 == 1).await;
    assert_eq!(head.3.first(), Some(&0x88), "status 200");
    read_until(&mut a, &mut buf, |f| {
        f.0 == frame::DATA && f.1 & frame::END_STREAM != 0
    })
    .await;

    // The PING answered: the final GOAWAY names stream 1, and the connection ends.
    let mut f = BytesMut::new();
    frame::put_ping(&mut f, true, DRAIN_PING);
    a.write_all(&f).await.expect("ping ack");
    let last = read_until(&mut a, &mut buf, |f| f.0 == frame::GOAWAY).await;
    assert_eq!(last_stream(&last), 1);
    let result = tokio::time::timeout(STALL, task)
        .await
        .expect("in time")
        .expect("task");
    assert!(result.is_ok(), "{result:?}");
}
