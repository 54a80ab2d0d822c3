//! HTTP/1.1 -> HTTP/2 cleartext upgrade (`Upgrade: h2c`, RFC 7540 section 3.2).
//!
//! After the `101 Switching Protocols`, the request that carried the upgrade must be answered as
//! HTTP/2 stream 1, which the client never sends as frames. The HTTP/2 server has no notion of
//! that implicit stream, so we synthesise it: read the client's preface and first SETTINGS frame,
//! then replay them followed by a HEADERS frame (HPACK literals, no indexing) for stream 1 that
//! carries the original request. From there the HTTP/2 server treats it as any other stream, and
//! policy is evaluated once, on the HTTP/2 side.

use bytes::{BufMut, Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderMap, header};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::detect::H2_PREFACE;

const FRAME_HEADERS: u8 = 0x1;
const FRAME_SETTINGS: u8 = 0x4;
const FRAME_CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
/// The default SETTINGS_MAX_FRAME_SIZE every peer accepts.
const MAX_FRAME: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum H2cError {
    #[error("h2c client did not send the HTTP/2 connection preface after 101")]
    BadPreface,
    #[error("h2c client's first frame is not SETTINGS (type {0})")]
    NotSettings(u8),
    #[error("h2c client's SETTINGS frame is {0} bytes, over the {MAX_FRAME} limit")]
    SettingsTooLarge(usize),
    #[error("reading the h2c preface failed: {0}")]
    Io(#[from] std::io::Error),
}

/// True when an HTTP/1.1 request asks to upgrade to h2c and carries no body (a body would have to
/// be replayed as DATA frames; such requests simply stay on HTTP/1.1, as RFC 9110 allows).
pub fn is_h2c_upgrade(headers: &HeaderMap) -> bool {
    let upgrade_h2c = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("h2c")));
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    upgrade_h2c && headers.contains_key("http2-settings") && !has_body
}

/// Reads the client's preface and SETTINGS frame from `io` and returns the bytes to replay in
/// front of it: preface, SETTINGS, and a HEADERS frame for stream 1 built from `head`.
pub async fn prelude<I: AsyncRead + Unpin>(io: &mut I, head: &Parts) -> Result<Bytes, H2cError> {
    let mut buf = BytesMut::with_capacity(H2_PREFACE.len() + 9 + 64);
    buf.resize(H2_PREFACE.len() + 9, 0);
    io.read_exact(&mut buf).await?;
    if &buf[..H2_PREFACE.len()] != H2_PREFACE {
        return Err(H2cError::BadPreface);
    }
    let frame = &buf[H2_PREFACE.len()..];
    let len = ((frame[0] as usize) << 16) | ((frame[1] as usize) << 8) | frame[2] as usize;
    if frame[3] != FRAME_SETTINGS {
        return Err(H2cError::NotSettings(frame[3]));
    }
    if len > MAX_FRAME {
        return Err(H2cError::SettingsTooLarge(len));
    }
    let start = buf.len();
    buf.resize(start + len, 0);
    io.read_exact(&mut buf[start..]).await?;
    write_headers(&mut buf, &encode_block(head));
    Ok(buf.freeze())
}

/// HPACK block for the request head: pseudo-headers, then regular headers minus those that are
/// connection-specific in HTTP/2.
fn encode_block(head: &Parts) -> BytesMut {
    let mut block = BytesMut::new();
    let path = head.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let authority = head
        .uri
        .authority()
        .map(|a| a.as_str().as_bytes())
        .or_else(|| head.headers.get(header::HOST).map(|h| h.as_bytes()));
    literal(&mut block, b":method", head.method.as_str().as_bytes());
    literal(&mut block, b":scheme", b"http");
    literal(&mut block, b":path", path.as_bytes());
    if let Some(authority) = authority {
        literal(&mut block, b":authority", authority);
    }
    for (name, value) in &head.headers {
        // `host` travels as `:authority`.
        let skip = super::headers::is_connection_specific(name)
            || name == header::HOST
            || (name == header::TE && !value.as_bytes().eq_ignore_ascii_case(b"trailers"));
        if !skip {
            literal(&mut block, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    block
}

/// "Literal Header Field without Indexing — New Name" (RFC 7541 section 6.2.2), no Huffman.
fn literal(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.put_u8(0x00);
    integer(out, name.len(), 7, 0x00);
    out.put_slice(name);
    integer(out, value.len(), 7, 0x00);
    out.put_slice(value);
}

/// HPACK integer with an `n`-bit prefix (RFC 7541 section 5.1).
fn integer(out: &mut BytesMut, value: usize, n: u8, first_bits: u8) {
    let max = (1usize << n) - 1;
    if value < max {
        out.put_u8(first_bits | value as u8);
        return;
    }
    out.put_u8(first_bits | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.put_u8((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.put_u8(rest as u8);
}

/// HEADERS (END_STREAM) for stream 1, split into CONTINUATION frames past the frame size limit.
fn write_headers(out: &mut BytesMut, block: &[u8]) {
    let mut chunks = block.chunks(MAX_FRAME).peekable();
    let mut frame_type = FRAME_HEADERS;
    let mut flags = FLAG_END_STREAM;
    if chunks.peek().is_none() {
        frame_header(out, 0, frame_type, flags | FLAG_END_HEADERS);
        return;
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let f = if last {
            flags | FLAG_END_HEADERS
        } else {
            flags
        };
        frame_header(out, chunk.len(), frame_type, f);
        out.put_slice(chunk);
        frame_type = FRAME_CONTINUATION;
        flags = 0;
    }
}

fn frame_header(out: &mut BytesMut, len: usize, frame_type: u8, flags: u8) {
    out.put_u8((len >> 16) as u8);
    out.put_u8((len >> 8) as u8);
    out.put_u8(len as u8);
    out.put_u8(frame_type);
    out.put_u8(flags);
    out.put_u32(1); // stream 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpack_integers_follow_rfc7541_examples() {
        // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337 with a 5-bit prefix.
        let mut out = BytesMut::new();
        integer(&mut out, 10, 5, 0);
        assert_eq!(&out[..], &[0x0a]);
        let mut out = BytesMut::new();
        integer(&mut out, 1337, 5, 0);
        assert_eq!(&out[..], &[0x1f, 0x9a, 0x0a]);
    }

    #[test]
    fn large_header_blocks_use_continuation_frames() {
        let block = vec![0u8; MAX_FRAME + 10];
        let mut out = BytesMut::new();
        write_headers(&mut out, &block);
        assert_eq!(out[3], FRAME_HEADERS);
        assert_eq!(out[4], FLAG_END_STREAM);
        let second = 9 + MAX_FRAME;
        assert_eq!(out[second + 3], FRAME_CONTINUATION);
        assert_eq!(out[second + 4], FLAG_END_HEADERS);
        assert_eq!(out.len(), 9 + MAX_FRAME + 9 + 10);
    }

    #[test]
    fn upgrade_detection_requires_settings_and_no_body() {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, "h2c".parse().unwrap());
        assert!(!is_h2c_upgrade(&h));
        h.insert(
            "http2-settings",
            "AAMAAABkAAQCAAAAAAIAAAAA".parse().unwrap(),
        );
        assert!(is_h2c_upgrade(&h));
        h.insert(header::CONTENT_LENGTH, "5".parse().unwrap());
        assert!(!is_h2c_upgrade(&h));
    }
}
