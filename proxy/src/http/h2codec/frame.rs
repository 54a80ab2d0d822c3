//! HTTP/2 frames (RFC 9113 sections 4 and 6): taken whole from the connection's read buffer and
//! checked for what the frame alone can tell (lengths, stream 0, padding); written straight into
//! the connection's write buffer.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::Reason;

pub const HEADER_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE's initial value, the largest frame either side may send until told.
pub const DEFAULT_MAX_FRAME: usize = 16_384;
/// The client connection preface (RFC 9113 section 3.4), as detection knows it.
pub use crate::detect::H2_PREFACE as PREFACE;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

/// A frame as received.
#[derive(Debug)]
pub enum Frame {
    /// `flow`: the length that counts against flow control (padding included).
    Data {
        stream: u32,
        data: Bytes,
        end: bool,
        flow: u32,
    },
    /// Padding and priority removed; `block` is the header block fragment. `self_dependent`:
    /// the priority names the stream itself, a stream error once the block is decoded.
    Headers {
        stream: u32,
        block: Bytes,
        end_stream: bool,
        end_headers: bool,
        self_dependent: bool,
    },
    Priority,
    Reset {
        stream: u32,
        reason: u32,
    },
    /// `params`: six bytes each.
    Settings {
        ack: bool,
        params: Bytes,
    },
    PushPromise,
    Ping {
        ack: bool,
        payload: [u8; 8],
    },
    GoAway {
        reason: u32,
    },
    WindowUpdate {
        stream: u32,
        increment: u32,
    },
    Continuation {
        stream: u32,
        block: Bytes,
        end_headers: bool,
    },
    Unknown,
}

/// What a frame broke: the whole connection, or one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    Connection(Reason, &'static str),
    Stream(u32, Reason, &'static str),
}

/// Takes one frame off the front of `buf` once it holds a whole one (`Ok(None)`: not yet).
/// `max`: our SETTINGS_MAX_FRAME_SIZE.
pub fn parse(buf: &mut BytesMut, max: usize) -> Result<Option<Frame>, FrameError> {
    use FrameError::{Connection, Stream};
    let Some(head) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
    let (kind, flags) = (head[3], head[4]);
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    if len > max {
        return Err(Connection(
            Reason::FRAME_SIZE_ERROR,
            "frame larger than SETTINGS_MAX_FRAME_SIZE",
        ));
    }
    if buf.len() < HEADER_LEN + len {
        buf.reserve(HEADER_LEN + len - buf.len());
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    let mut payload = buf.split_to(len);
    let on_stream = |what: &'static str| -> Result<(), FrameError> {
        if stream == 0 {
            Err(Connection(Reason::PROTOCOL_ERROR, what))
        } else {
            Ok(())
        }
    };
    let on_connection = |what: &'static str| -> Result<(), FrameError> {
        if stream != 0 {
            Err(Connection(Reason::PROTOCOL_ERROR, what))
        } else {
            Ok(())
        }
    };
    let frame = match kind {
        DATA => {
            on_stream("DATA on stream 0")?;
            strip_padding(&mut payload, flags)?;
            Frame::Data {
                stream,
                data: payload.freeze(),
                end: flags & END_STREAM != 0,
                flow: len as u32,
            }
        }
        HEADERS => {
            on_stream("HEADERS on stream 0")?;
            strip_padding(&mut payload, flags)?;
            let mut self_dependent = false;
            if flags & PRIORITY_FLAG != 0 {
                if payload.len() < 5 {
                    return Err(Connection(
                        Reason::FRAME_SIZE_ERROR,
                        "HEADERS too short for its priority",
                    ));
                }
                self_dependent = payload.get_u32() & 0x7fff_ffff == stream;
                payload.advance(1);
            }
            Frame::Headers {
                stream,
                block: payload.freeze(),
                end_stream: flags & END_STREAM != 0,
                end_headers: flags & END_HEADERS != 0,
                self_dependent,
            }
        }
        PRIORITY => {
            on_stream("PRIORITY on stream 0")?;
            if len != 5 {
                return Err(Stream(
                    stream,
                    Reason::FRAME_SIZE_ERROR,
                    "PRIORITY is not 5 bytes",
                ));
            }
            if payload.get_u32() & 0x7fff_ffff == stream {
                return Err(Stream(
                    stream,
                    Reason::PROTOCOL_ERROR,
                    "stream depends on itself",
                ));
            }
            Frame::Priority
        }
        RST_STREAM => {
            on_stream("RST_STREAM on stream 0")?;
            if len != 4 {
                return Err(Connection(
                    Reason::FRAME_SIZE_ERROR,
                    "RST_STREAM is not 4 bytes",
                ));
            }
            Frame::Reset {
                stream,
                reason: payload.get_u32(),
            }
        }
        SETTINGS => {
            on_connection("SETTINGS on a stream")?;
            let ack = flags & ACK != 0;
            if (ack && len != 0) || len % 6 != 0 {
                return Err(Connection(
                    Reason::FRAME_SIZE_ERROR,
                    "SETTINGS of a bad length",
                ));
            }
            Frame::Settings {
                ack,
                params: payload.freeze(),
            }
        }
        PUSH_PROMISE => Frame::PushPromise,
        PING => {
            on_connection("PING on a stream")?;
            if len != 8 {
                return Err(Connection(Reason::FRAME_SIZE_ERROR, "PING is not 8 bytes"));
            }
            let mut data = [0u8; 8];
            payload.copy_to_slice(&mut data);
            Frame::Ping {
                ack: flags & ACK != 0,
                payload: data,
            }
        }
        GOAWAY => {
            on_connection("GOAWAY on a stream")?;
            if len < 8 {
                return Err(Connection(
                    Reason::FRAME_SIZE_ERROR,
                    "GOAWAY shorter than 8 bytes",
                ));
            }
            payload.advance(4); // last stream id: we open no streams
            Frame::GoAway {
                reason: payload.get_u32(),
            }
        }
        WINDOW_UPDATE => {
            if len != 4 {
                return Err(Connection(
                    Reason::FRAME_SIZE_ERROR,
                    "WINDOW_UPDATE is not 4 bytes",
                ));
            }
            let increment = payload.get_u32() & 0x7fff_ffff;
            if increment == 0 {
                return Err(if stream == 0 {
                    Connection(Reason::PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
                } else {
                    Stream(stream, Reason::PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
                });
            }
            Frame::WindowUpdate { stream, increment }
        }
        CONTINUATION => {
            on_stream("CONTINUATION on stream 0")?;
            Frame::Continuation {
                stream,
                block: payload.freeze(),
                end_headers: flags & END_HEADERS != 0,
            }
        }
        _ => Frame::Unknown,
    };
    Ok(Some(frame))
}

/// Removes the pad length byte and the padding of a PADDED frame (section 6.1).
fn strip_padding(payload: &mut BytesMut, flags: u8) -> Result<(), FrameError> {
    if flags & PADDED == 0 {
        return Ok(());
    }
    let Some(&pad) = payload.first() else {
        return Err(FrameError::Connection(
            Reason::FRAME_SIZE_ERROR,
            "padded frame without a pad length",
        ));
    };
    let pad = usize::from(pad);
    if pad >= payload.len() {
        return Err(FrameError::Connection(
            Reason::PROTOCOL_ERROR,
            "padding as long as the frame",
        ));
    }
    payload.advance(1);
    payload.truncate(payload.len() - pad);
    Ok(())
}

/// A frame header.
pub fn put_head(out: &mut BytesMut, len: usize, kind: u8, flags: u8, stream: u32) {
    out.put_uint(len as u64, 3);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream);
}

/// Our SETTINGS (identifier, value) pairs.
pub fn put_settings(out: &mut BytesMut, params: &[(u16, u32)]) {
    put_head(out, params.len() * 6, SETTINGS, 0, 0);
    for &(id, value) in params {
        out.put_u16(id);
        out.put_u32(value);
    }
}

pub fn put_window_update(out: &mut BytesMut, stream: u32, increment: u32) {
    put_head(out, 4, WINDOW_UPDATE, 0, stream);
    out.put_u32(increment);
}

pub fn put_reset(out: &mut BytesMut, stream: u32, reason: Reason) {
    put_head(out, 4, RST_STREAM, 0, stream);
    out.put_u32(reason.0);
}

pub fn put_goaway(out: &mut BytesMut, last: u32, reason: Reason, debug: &[u8]) {
    put_head(out, 8 + debug.len(), GOAWAY, 0, 0);
    out.put_u32(last);
    out.put_u32(reason.0);
    out.put_slice(debug);
}

pub fn put_ping(out: &mut BytesMut, ack: bool, payload: [u8; 8]) {
    put_head(out, 8, PING, if ack { ACK } else { 0 }, 0);
    out.put_slice(&payload);
}

/// DATA frames for `data`, split at `max` (the client's SETTINGS_MAX_FRAME_SIZE).
pub fn put_data(out: &mut BytesMut, stream: u32, data: &[u8], end: bool, max: usize) {
    if data.is_empty() {
        put_head(out, 0, DATA, if end { END_STREAM } else { 0 }, stream);
        return;
    }
    let mut chunks = data.chunks(max).peekable();
    while let Some(chunk) = chunks.next() {
        let last = end && chunks.peek().is_none();
        put_head(
            out,
            chunk.len(),
            DATA,
            if last { END_STREAM } else { 0 },
            stream,
        );
        out.put_slice(chunk);
    }
}

/// A HEADERS frame whose header block was encoded at `out[start..]`, after room left for the
/// frame header at `start - HEADER_LEN`; a block over `max` is split into CONTINUATION frames.
pub fn finish_headers(out: &mut BytesMut, start: usize, stream: u32, end_stream: bool, max: usize) {
    let head_at = start - HEADER_LEN;
    let block_len = out.len() - start;
    let flags = if end_stream { END_STREAM } else { 0 };
    if block_len <= max {
        write_head_at(
            out,
            head_at,
            block_len,
            HEADERS,
            flags | END_HEADERS,
            stream,
        );
        return;
    }
    // Rare (a block over 16 KiB): move the rest out and frame it in pieces.
    let rest = out.split_off(start + max);
    write_head_at(out, head_at, max, HEADERS, flags, stream);
    let mut chunks = rest.chunks(max).peekable();
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        put_head(
            out,
            chunk.len(),
            CONTINUATION,
            if last { END_HEADERS } else { 0 },
            stream,
        );
        out.put_slice(chunk);
    }
}

/// Reserves room for a frame header; returns where the frame's payload starts.
pub fn reserve_head(out: &mut BytesMut) -> usize {
    out.put_slice(&[0; HEADER_LEN]);
    out.len()
}

fn write_head_at(out: &mut BytesMut, at: usize, len: usize, kind: u8, flags: u8, stream: u32) {
    let mut head = [0u8; HEADER_LEN];
    head[..3].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
    head[3] = kind;
    head[4] = flags;
    head[5..].copy_from_slice(&stream.to_be_bytes());
    out[at..at + HEADER_LEN].copy_from_slice(&head);
}
