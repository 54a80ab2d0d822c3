//! Protocol detection: read the client's first bytes (bounded, with a timeout) and decide between
//! HTTP/2 prior knowledge, HTTP/1.x and opaque TCP.
//!
//! Bytes read here are not lost: they are handed on in a `PrefixedIo` that replays them before
//! the rest of the stream. A client that sends nothing before the timeout (server-first protocols
//! such as SMTP or MySQL) is opaque TCP. Later protocols (TLS ClientHello, Kafka frames, DNS over
//! TCP) slot in as further [`Detected`] variants.

#[cfg(test)]
mod tests;

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The HTTP/2 connection preface (RFC 9113 section 3.4).
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Longest HTTP method token we look for before the first space.
const MAX_METHOD: usize = 20;

/// How many bytes detection reads at most: enough for the HTTP/2 preface.
pub const DETECT_BYTES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    Http1,
    Http2,
    Opaque,
}

/// What one look at the buffer says: decided, or more bytes needed.
fn classify(buf: &[u8]) -> Option<Detected> {
    if buf.is_empty() {
        return None;
    }
    let n = buf.len().min(H2_PREFACE.len());
    if buf[..n] == H2_PREFACE[..n] {
        return if n == H2_PREFACE.len() {
            Some(Detected::Http2)
        } else {
            None
        };
    }
    // HTTP/1.x: a method token (RFC 9110 tchar, upper-case in practice) followed by a space.
    for (i, &b) in buf.iter().enumerate().take(MAX_METHOD + 1) {
        if b == b' ' {
            return Some(if i > 0 {
                Detected::Http1
            } else {
                Detected::Opaque
            });
        }
        if !(b.is_ascii_uppercase() || b == b'-' || b == b'_') {
            return Some(Detected::Opaque);
        }
    }
    if buf.len() > MAX_METHOD {
        Some(Detected::Opaque)
    } else {
        None
    }
}

/// Reads until the protocol is known, [`DETECT_BYTES`] are buffered, EOF, or the deadline:
/// `timeout` from the start, or, with `quiet`, up to `quiet` for the first byte and `timeout` from
/// that byte on (a client that may connect ahead of its first request). Nothing read by then is
/// an empty buffer, classified opaque.
///
/// Returns the verdict and the bytes consumed; I/O errors are returned to the caller, which closes
/// the connection.
pub async fn detect<I: AsyncRead + Unpin>(
    io: &mut I,
    quiet: Option<Duration>,
    timeout: Duration,
) -> std::io::Result<(Detected, BytesMut)> {
    let mut buf = BytesMut::with_capacity(DETECT_BYTES);
    let start = tokio::time::Instant::now();
    let mut deadline = start + quiet.unwrap_or(timeout);
    loop {
        if let Some(found) = classify(&buf) {
            return Ok((found, buf));
        }
        if buf.len() >= DETECT_BYTES {
            return Ok((Detected::Opaque, buf));
        }
        let was_empty = buf.is_empty();
        let read = tokio::time::timeout_at(deadline, io.read_buf(&mut buf)).await;
        match read {
            Err(_elapsed) => return Ok((Detected::Opaque, buf)),
            Ok(Ok(0)) => return Ok((Detected::Opaque, buf)),
            Ok(Ok(_)) if was_empty && quiet.is_some() => {
                deadline = tokio::time::Instant::now() + timeout;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
}
