//! The HTTP/2 targets: frames and HPACK blocks.

use bytes::BytesMut;

use crate::http::h2codec::frame::{self, Frame, FrameError};
use crate::http::h2codec::hpack;

/// SETTINGS_HEADER_TABLE_SIZE and the header list limit of the data path (`h2fast`).
const TABLE_SIZE: usize = 4096;
const MAX_HEADER_LIST: usize = 64 * 1024;

/// `h2_frames`: frames after the connection preface, as the HTTP/2 connection reads them: taken
/// off a buffer that grows one read at a time, header blocks (HEADERS, CONTINUATION) joined and
/// HPACK-decoded with one decoder for the connection. Byte 0 + 1 is the size of each read; the
/// frames must come out the same as from one read of everything.
pub fn h2_frames(data: &[u8]) {
    let Some((&control, wire)) = data.split_first() else {
        return;
    };
    let read = usize::from(control) + 1;
    let in_pieces = read_frames(wire, read);
    let whole = read_frames(wire, wire.len().max(1));
    assert_eq!(in_pieces, whole);
}

/// What a connection did with the frames, one line each, up to the error that ends it.
fn read_frames(wire: &[u8], read: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buf = BytesMut::new();
    let mut decoder = hpack::Decoder::new(TABLE_SIZE);
    // A header block waiting for CONTINUATION: its stream and the fragments so far.
    let mut partial: Option<(u32, BytesMut)> = None;
    for piece in wire.chunks(read) {
        buf.extend_from_slice(piece);
        loop {
            let f = match frame::parse(&mut buf, frame::DEFAULT_MAX_FRAME) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                // A stream error resets that stream; the connection reads on (the frame is
                // consumed). Inside a header block it ends the connection, as any error does.
                Err(e @ FrameError::Stream(..)) if partial.is_none() => {
                    seen.push(format!("{e:?}"));
                    continue;
                }
                Err(e) => {
                    seen.push(format!("{e:?}"));
                    return seen;
                }
            };
            if partial.is_some() && !matches!(f, Frame::Continuation { .. }) {
                seen.push("expected CONTINUATION".into());
                return seen;
            }
            let block = match f {
                Frame::Data { ref data, flow, .. } => {
                    assert!(data.len() <= flow as usize);
                    None
                }
                Frame::Settings { ref params, .. } => {
                    assert_eq!(params.len() % 6, 0);
                    None
                }
                Frame::Headers {
                    stream,
                    ref block,
                    end_headers,
                    ..
                } => {
                    assert_ne!(stream, 0);
                    if end_headers {
                        Some(BytesMut::from(&block[..]))
                    } else {
                        partial = Some((stream, BytesMut::from(&block[..])));
                        None
                    }
                }
                Frame::Continuation {
                    stream,
                    ref block,
                    end_headers,
                } => {
                    let Some((first, mut joined)) = partial.take() else {
                        seen.push("CONTINUATION without HEADERS".into());
                        return seen;
                    };
                    if first != stream || joined.len() + block.len() > 2 * MAX_HEADER_LIST {
                        seen.push("bad CONTINUATION".into());
                        return seen;
                    }
                    joined.extend_from_slice(block);
                    if end_headers {
                        Some(joined)
                    } else {
                        partial = Some((first, joined));
                        None
                    }
                }
                _ => None,
            };
            seen.push(format!("{f:?}"));
            if let Some(block) = block {
                let mut fields = Vec::new();
                let decoded = decoder.decode(&block, MAX_HEADER_LIST, |n, v| {
                    fields.push((n.to_vec(), v.to_vec()));
                });
                seen.push(format!("{decoded:?} {fields:?}"));
                if decoded.is_err() {
                    return seen;
                }
            }
        }
    }
    seen
}

/// `hpack`: header blocks of one connection, decoded in order with one decoder (so the dynamic
/// table carries over). Byte 0: bits 0-1 pick the table size (4096, 4096, 256, 0) and bit 2 a
/// small header list limit (100 bytes); then blocks, each a 2-byte big-endian length and that
/// many bytes (the last takes what is left). Each block decoded whole is encoded again with the
/// response encoder's `field` and must decode, on a fresh decoder, to the same fields.
pub fn hpack(data: &[u8]) {
    let Some((&control, mut rest)) = data.split_first() else {
        return;
    };
    let table = [TABLE_SIZE, TABLE_SIZE, 256, 0][usize::from(control & 3)];
    let max_list = if control & 4 != 0 {
        100
    } else {
        MAX_HEADER_LIST
    };
    let mut decoder = hpack::Decoder::new(table);
    while !rest.is_empty() {
        let (block, tail) = match rest {
            [hi, lo, tail @ ..] => {
                let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                tail.split_at(len.min(tail.len()))
            }
            _ => (rest, &[][..]),
        };
        rest = tail;
        let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let over = match decoder.decode(block, max_list, |n, v| {
            fields.push((n.to_vec(), v.to_vec()))
        }) {
            Ok(over) => over,
            // The connection ends with COMPRESSION_ERROR: its table is out of step.
            Err(_) => return,
        };
        let listed: usize = fields.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
        assert!(listed <= max_list);
        if over {
            continue;
        }
        let mut encoded = BytesMut::new();
        for (n, v) in &fields {
            hpack::field(&mut encoded, n, v);
        }
        let mut again = Vec::new();
        hpack::Decoder::new(TABLE_SIZE)
            .decode(&encoded, usize::MAX, |n, v| {
                again.push((n.to_vec(), v.to_vec()))
            })
            .expect("the encoder's block decodes");
        assert_eq!(again, fields);
    }
}
