//! Bodies between an HTTP/2 stream and an HTTP/1.1 upstream connection: the request body
//! uploaded as the client sends it (returning its flow-control window as it goes), and the
//! response body sent as DATA frames no faster than the client's window allows.

use crate::transport::send;
use std::future::poll_fn;
use std::io;
use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use smallvec::SmallVec;
use tokio::io::{AsyncReadExt, AsyncWrite};

use super::shared::StreamRef;
use crate::http::fast::head::Framing;
use crate::http::fast::upstream::{BodyEnd, READ};
use crate::http::headers::is_hop_by_hop;
use crate::upstream::RawConn;

/// Trailer fields relayed from a chunked response (gRPC sends two or three).
const MAX_TRAILER_FIELDS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body over the limit")]
    TooLarge,
    #[error("the client reset the stream or sent a malformed body")]
    Client,
    #[error("writing the request body upstream failed")]
    Upstream,
}

/// A request body on its way upstream.
pub struct Upload<'a> {
    pub body: &'a StreamRef,
    /// Read already, to learn how the body is framed.
    pub first: Option<Bytes>,
    pub chunked: bool,
    /// The most bytes taken from the client.
    pub max: u64,
}

impl Upload<'_> {
    /// Writes the client's body to `up` as it comes, returning the client's flow-control window
    /// once each chunk is upstream (so a slow upstream slows the client, and nothing piles up).
    pub async fn run(&mut self, up: &mut (impl AsyncWrite + Unpin)) -> Result<(), BodyError> {
        let mut total: u64 = 0;
        let mut chunk = Vec::new();
        loop {
            let data = match self.first.take() {
                Some(data) => data,
                None => match self.body.data().await {
                    Some(data) => data.map_err(|_| BodyError::Client)?,
                    None => break,
                },
            };
            let len = data.len();
            total = total.saturating_add(len as u64);
            if total > self.max {
                return Err(BodyError::TooLarge);
            }
            let bytes: &[u8] = if self.chunked && len > 0 {
                // One write per DATA frame: size line, data and CRLF together.
                chunk.clear();
                chunk.extend_from_slice(format!("{len:x}\r\n").as_bytes());
                chunk.extend_from_slice(&data);
                chunk.extend_from_slice(b"\r\n");
                &chunk
            } else {
                &data
            };
            send(up, bytes).await.map_err(|_| BodyError::Upstream)?;
            self.body.release(len);
        }
        // Request trailers have no place in the HTTP/1.1 request as framed: dropped, as hyper
        // does.
        if self.chunked {
            send(up, b"0\r\n\r\n")
                .await
                .map_err(|_| BodyError::Upstream)?;
        }
        Ok(())
    }
}

/// How a response body relay ended.
pub enum Relay {
    /// The body is complete; `extra`: the upstream sent bytes past its end.
    Complete { extra: bool },
    /// The upstream closed before the end.
    Truncated,
    /// The client reset the stream.
    Reset,
}

/// Relays the response body, which begins at `start` in `up.buf`, as `framing` delimits it;
/// a chunked body's trailer fields follow as a trailers block.
/// `stall` bounds each wait for the upstream and for the client's window.
pub async fn relay(
    up: &mut RawConn,
    send: &StreamRef,
    framing: Framing,
    mut start: usize,
    stall: Duration,
) -> io::Result<Relay> {
    let mut end = BodyEnd::new(framing, true);
    // What of each read is body (a chunked body's data without its framing): sent from the
    // read buffer when it is one run of bytes, else gathered here first.
    let mut ranges: SmallVec<[Range<usize>; 4]> = SmallVec::new();
    let mut gathered = Vec::new();
    loop {
        ranges.clear();
        let bytes = up.buf.get(start..).unwrap_or_default();
        let (used, done) = end.take(bytes, |r| ranges.push(r))?;
        let extra = used < bytes.len();
        let trailers = if done {
            trailer_fields(&end.take_trailers())
        } else {
            None
        };
        let data = match &ranges[..] {
            [] => &[][..],
            [one] => &bytes[one.clone()],
            many => {
                gathered.clear();
                for r in many {
                    gathered.extend_from_slice(&bytes[r.clone()]);
                }
                &gathered[..]
            }
        };
        send_data(send, data, done && trailers.is_none(), stall).await?;
        if let Some(trailers) = trailers {
            send.send_trailers(&trailers).map_err(io::Error::other)?;
        }
        if done {
            return Ok(Relay::Complete { extra });
        }
        up.buf.clear();
        start = 0;
        up.buf.reserve(READ);
        let read = tokio::time::timeout(stall, up.stream.read_buf(&mut up.buf));
        // `biased`: the read first (no per-poll random pick); the reset only while it waits.
        let got = tokio::select! {
            biased;
            got = read => got
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "upstream stalled"))??,
            _ = poll_fn(|cx| send.poll_reset(cx)) => return Ok(Relay::Reset),
        };
        if got == 0 {
            if framing == Framing::UntilClose {
                send_data(send, &[], true, stall).await?;
                return Ok(Relay::Complete { extra: false });
            }
            return Ok(Relay::Truncated);
        }
    }
}

/// Sends `data` as DATA frames within the client's flow-control window (`end`: the last of the
/// body), waiting at most `stall` for the window to open.
pub async fn send_data(
    send: &StreamRef,
    mut data: &[u8],
    end: bool,
    stall: Duration,
) -> io::Result<()> {
    if data.is_empty() {
        if end {
            send.send_data(data, true).map_err(io::Error::other)?;
        }
        return Ok(());
    }
    while !data.is_empty() {
        let want = data.len();
        let mut more = std::pin::pin!(poll_fn(|cx| send.poll_capacity(cx, want)));
        // The stall timer is set only when the window is shut: most sends have room at once.
        let capacity = match more.as_mut().now_or_never() {
            Some(ready) => ready,
            None => tokio::time::timeout(stall, more).await.map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client's flow-control window stayed shut",
                )
            })?,
        }
        .map_err(io::Error::other)?;
        let (chunk, rest) = data.split_at(capacity.min(data.len()));
        data = rest;
        send.send_data(chunk, end && data.is_empty())
            .map_err(io::Error::other)?;
    }
    Ok(())
}

/// The trailer fields of a chunked body as an HTTP/2 trailers block; `None` when there are none.
/// Fields HTTP/2 cannot carry (hop-by-hop, or not valid field names and values) are left out.
fn trailer_fields(section: &[u8]) -> Option<HeaderMap> {
    if section.is_empty() {
        return None;
    }
    let mut lines = section.to_vec();
    lines.extend_from_slice(b"\r\n");
    let mut storage = [httparse::EMPTY_HEADER; MAX_TRAILER_FIELDS];
    let Ok(httparse::Status::Complete((_, fields))) = httparse::parse_headers(&lines, &mut storage)
    else {
        tracing::debug!(
            "upstream trailers not relayed: malformed or more than {MAX_TRAILER_FIELDS} fields"
        );
        return None;
    };
    let mut map = HeaderMap::new();
    for f in fields {
        if is_hop_by_hop(f.name) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(f.name.as_bytes()),
            HeaderValue::from_bytes(f.value),
        ) {
            map.append(name, value);
        }
    }
    (!map.is_empty()).then_some(map)
}
