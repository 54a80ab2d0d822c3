//! HTTP/1.1 -> HTTP/2 cleartext upgrade (`Upgrade: h2c`, RFC 7540 section 3.2).
//!
//! After the `101 Switching Protocols`, the request that carried the upgrade must be answered as
//! HTTP/2 stream 1, which the client never sends as frames. The HTTP/2 server has no notion of
//! that implicit stream, so we synthesise it: read the client's preface and first SETTINGS frame,
//! then replay them followed by a HEADERS frame (HPACK literals, no indexing) for stream 1 that
//! carries the original request. From there the HTTP/2 server treats it as any other stream, and
//! policy is evaluated once, on the HTTP/2 side.

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderMap, header};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::h2codec::frame::{self, DEFAULT_MAX_FRAME as MAX_FRAME};
use super::h2codec::hpack;
use crate::detect::H2_PREFACE;

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
    if frame[3] != frame::SETTINGS {
        return Err(H2cError::NotSettings(frame[3]));
    }
    if len > MAX_FRAME {
        return Err(H2cError::SettingsTooLarge(len));
    }
    let start = buf.len();
    buf.resize(start + len, 0);
    io.read_exact(&mut buf[start..]).await?;
    // HEADERS for stream 1, END_STREAM, CONTINUATION past the default frame size.
    let start = frame::reserve_head(&mut buf);
    encode_block(head, &mut buf);
    frame::finish_headers(&mut buf, start, 1, true, MAX_FRAME);
    Ok(buf.freeze())
}

/// HPACK block for the request head: pseudo-headers, then regular headers minus those that are
/// connection-specific in HTTP/2 (literals without indexing, `hpack::field`).
fn encode_block(head: &Parts, block: &mut BytesMut) {
    let path = head.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let authority = head
        .uri
        .authority()
        .map(|a| a.as_str().as_bytes())
        .or_else(|| head.headers.get(header::HOST).map(|h| h.as_bytes()));
    hpack::field(block, b":method", head.method.as_str().as_bytes());
    hpack::field(block, b":scheme", b"http");
    hpack::field(block, b":path", path.as_bytes());
    if let Some(authority) = authority {
        hpack::field(block, b":authority", authority);
    }
    for (name, value) in &head.headers {
        // `host` travels as `:authority`.
        let skip = super::headers::is_connection_specific(name)
            || name == header::HOST
            || (name == header::TE && !value.as_bytes().eq_ignore_ascii_case(b"trailers"));
        if !skip {
            hpack::field(block, name.as_str().as_bytes(), value.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upgrade_request_becomes_stream_1() {
        let req = http::Request::get("http://web.local/a?b")
            .header("x-a", "1")
            .header("connection", "Upgrade")
            .body(())
            .expect("request");
        let (parts, ()) = req.into_parts();
        let mut out = BytesMut::new();
        let start = frame::reserve_head(&mut out);
        encode_block(&parts, &mut out);
        frame::finish_headers(&mut out, start, 1, true, MAX_FRAME);
        let Ok(Some(frame::Frame::Headers {
            stream: 1,
            block,
            end_stream: true,
            end_headers: true,
            ..
        })) = frame::parse(&mut out, MAX_FRAME)
        else {
            panic!("not one HEADERS frame for stream 1");
        };
        let mut fields = Vec::new();
        hpack::Decoder::new(4096)
            .decode(&block, 1 << 16, |n, v| {
                fields.push((n.to_vec(), v.to_vec()))
            })
            .expect("decodes");
        let names: Vec<&[u8]> = fields.iter().map(|(n, _)| &n[..]).collect();
        assert_eq!(
            names,
            [&b":method"[..], b":scheme", b":path", b":authority", b"x-a"]
        );
        assert_eq!(fields[2].1, b"/a?b");
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
