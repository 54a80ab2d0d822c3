//! What each frame from the client does to the connection and its streams (RFC 9113
//! sections 5 and 6): stream lifecycle, flow control on what we receive, SETTINGS, and the
//! checks that make a frame a stream or a connection error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::Request;

use super::{BlockHead, Conn, ConnError, Partial, RESET_ALLOWANCE, protocol};
use crate::http::h2codec::Reason;
use crate::http::h2codec::frame::{self, Frame};
use crate::http::h2fast::request::{Head, start_block};
use crate::http::h2fast::running::Running;
use crate::http::h2fast::shared::{Recv, Shared, StreamRef, lock};

impl<I> Conn<I> {
    /// A stream error: RST_STREAM, and the stream (if open) sees the reset.
    pub(super) fn stream_error(&mut self, id: u32, reason: Reason) -> Result<(), ConnError> {
        if id > self.last_stream {
            // About a stream never opened: nothing to reset but the whole connection.
            return Err(protocol(reason, "error on an idle stream"));
        }
        let mut sh = lock(&self.shared);
        let open = sh.streams.contains_key(&id);
        if open {
            sh.reset(id, reason);
        } else {
            frame::put_reset(&mut sh.out, id, reason);
        }
        drop(sh);
        if open { self.count_reset() } else { Ok(()) }
    }

    /// A stream the client opened ended in a reset, its or ours: a client that has most of its
    /// streams reset is closed (CVE-2023-44487, "rapid reset"; the h2 crate counts both too).
    pub(super) fn count_reset(&mut self) -> Result<(), ConnError> {
        self.resets += 1;
        if self.resets > RESET_ALLOWANCE && self.resets * 2 > self.accepted {
            return Err(protocol(
                Reason::ENHANCE_YOUR_CALM,
                "too many streams reset",
            ));
        }
        Ok(())
    }

    /// What one frame does: each kind has its own method, here or in `control.rs`.
    pub(super) fn handle<S: Future<Output = ()>>(
        &mut self,
        f: Frame,
        running: Pin<&mut Running<S>>,
        serve: &mut impl FnMut(Request<()>, StreamRef) -> S,
    ) -> Result<(), ConnError> {
        if self.partial.is_some() && !matches!(f, Frame::Continuation { .. }) {
            return Err(protocol(Reason::PROTOCOL_ERROR, "expected CONTINUATION"));
        }
        match f {
            Frame::Data {
                stream,
                data,
                end,
                flow,
            } => self.data(stream, data, end, flow),
            Frame::Headers {
                stream,
                block,
                end_stream,
                end_headers,
                self_dependent,
            } => {
                let head = BlockHead {
                    stream,
                    end_stream,
                    self_dependent,
                };
                self.headers_frame(head, block, end_headers, running, serve)
            }
            Frame::Continuation {
                stream,
                block,
                end_headers,
            } => self.continuation(stream, &block, end_headers, running, serve),
            // Priorities are advisory; a PRIORITY for an idle stream leaves it idle.
            Frame::Priority => Ok(()),
            Frame::Reset { stream, reason } => self.reset_frame(stream, reason),
            Frame::Settings { ack, params } => {
                if !ack {
                    self.settings(&params)?;
                }
                Ok(())
            }
            Frame::PushPromise => Err(protocol(
                Reason::PROTOCOL_ERROR,
                "PUSH_PROMISE from a client",
            )),
            Frame::Ping { ack, payload } => {
                self.ping(ack, payload);
                Ok(())
            }
            Frame::GoAway { reason, .. } => {
                tracing::debug!(reason = %Reason(reason), "HTTP/2 client sent GOAWAY");
                self.client_done = true;
                Ok(())
            }
            Frame::WindowUpdate { stream, increment } => self.window_update(stream, increment),
            Frame::Unknown => Ok(()),
        }
    }

    /// HEADERS: a whole block starts (or trails) a stream; a partial one waits for its
    /// CONTINUATION frames.
    fn headers_frame<S: Future<Output = ()>>(
        &mut self,
        head: BlockHead,
        block: Bytes,
        end_headers: bool,
        running: Pin<&mut Running<S>>,
        serve: &mut impl FnMut(Request<()>, StreamRef) -> S,
    ) -> Result<(), ConnError> {
        if end_headers {
            return self.headers(head, &block, running, serve);
        }
        self.partial = Some(Partial {
            head,
            block: BytesMut::from(&block[..]),
        });
        Ok(())
    }

    /// CONTINUATION: more of the block a HEADERS frame on the same stream started, bounded.
    fn continuation<S: Future<Output = ()>>(
        &mut self,
        stream: u32,
        block: &[u8],
        end_headers: bool,
        running: Pin<&mut Running<S>>,
        serve: &mut impl FnMut(Request<()>, StreamRef) -> S,
    ) -> Result<(), ConnError> {
        let Some(mut p) = self.partial.take() else {
            return Err(protocol(
                Reason::PROTOCOL_ERROR,
                "CONTINUATION without HEADERS",
            ));
        };
        if p.head.stream != stream {
            return Err(protocol(
                Reason::PROTOCOL_ERROR,
                "CONTINUATION on another stream",
            ));
        }
        if p.block.len() + block.len() > self.max_block() {
            return Err(protocol(
                Reason::ENHANCE_YOUR_CALM,
                "header block too large",
            ));
        }
        p.block.extend_from_slice(block);
        if end_headers {
            self.headers(p.head, &p.block, running, serve)
        } else {
            self.partial = Some(p);
            Ok(())
        }
    }

    /// The largest header block taken in: a compressed block this much larger than the header
    /// list limit is abuse, not headers.
    fn max_block(&self) -> usize {
        self.settings
            .max_header_list
            .saturating_mul(2)
            .max(64 * 1024)
    }

    fn data(&mut self, id: u32, data: Bytes, end: bool, flow: u32) -> Result<(), ConnError> {
        if id > self.last_stream {
            return Err(protocol(Reason::PROTOCOL_ERROR, "DATA on an idle stream"));
        }
        let mut sh = lock(&self.shared);
        // The connection window is charged whatever becomes of the frame.
        sh.conn_recv -= i64::from(flow);
        if sh.conn_recv < 0 {
            return Err(protocol(
                Reason::FLOW_CONTROL_ERROR,
                "DATA beyond the connection window",
            ));
        }
        let Some(s) = sh.streams.get_mut(&id) else {
            // A stream we closed or reset: frames in flight are dropped, their window returned.
            sh.release_conn(flow);
            return Ok(());
        };
        match s.recv {
            Recv::Open => {}
            // Reset by either side: frames still in flight are ignored (RFC 9113 section 5.1).
            Recv::Reset(_) => {
                sh.release_conn(flow);
                return Ok(());
            }
            Recv::End => {
                sh.release_conn(flow);
                drop(sh);
                return self.stream_error(id, Reason::STREAM_CLOSED);
            }
        }
        s.recv_window -= i64::from(flow);
        s.received += data.len() as u64;
        let over_window = s.recv_window < 0;
        let bad_length = match s.content_length {
            Some(cl) => s.received > cl || (end && s.received != cl),
            None => false,
        };
        if over_window || bad_length {
            sh.release_conn(flow);
            let reason = if over_window {
                Reason::FLOW_CONTROL_ERROR
            } else {
                Reason::PROTOCOL_ERROR
            };
            drop(sh);
            tracing::debug!(stream = id, %reason, "HTTP/2 request body over its window or content-length");
            return self.stream_error(id, reason);
        }
        let padding = flow - data.len() as u32;
        sh.deliver(id, data, padding);
        if end {
            sh.recv_closed(id, Recv::End);
        }
        Ok(())
    }

    fn headers<S: Future<Output = ()>>(
        &mut self,
        BlockHead {
            stream: id,
            end_stream,
            self_dependent,
        }: BlockHead,
        block: &[u8],
        running: Pin<&mut Running<S>>,
        serve: &mut impl FnMut(Request<()>, StreamRef) -> S,
    ) -> Result<(), ConnError> {
        // Decoded whatever becomes of the stream: the dynamic table must stay in step.
        let mut head = Head::default();
        start_block(&mut self.arena);
        let arena = &mut self.arena;
        let over = self
            .decoder
            .decode(block, self.settings.max_header_list, |n, v| {
                head.field(arena, n, v)
            })
            .map_err(|e| {
                tracing::debug!(error = %e, "HPACK decoding failed");
                protocol(Reason::COMPRESSION_ERROR, "invalid header block")
            })?;
        if self_dependent {
            // RFC 9113 section 5.3.1: a stream error, once its block is decoded.
            if id > self.last_stream && !id.is_multiple_of(2) {
                self.last_stream = id;
            }
            return self.stream_error(id, Reason::PROTOCOL_ERROR);
        }
        if id <= self.last_stream {
            let state = lock(&self.shared)
                .streams
                .get(&id)
                .map(|s| (s.recv, s.content_length, s.received));
            return match state {
                // Trailers: the body ends (request trailers are not forwarded upstream).
                Some((Recv::Open, length, received)) if end_stream => {
                    if length.is_some_and(|cl| cl != received) {
                        return self.stream_error(id, Reason::PROTOCOL_ERROR);
                    }
                    lock(&self.shared).recv_closed(id, Recv::End);
                    Ok(())
                }
                Some((Recv::Open, ..)) => self.stream_error(id, Reason::PROTOCOL_ERROR),
                Some((Recv::End, ..)) => self.stream_error(id, Reason::STREAM_CLOSED),
                // A stream reset, or closed and gone: what was in flight is ignored.
                Some((Recv::Reset(_), ..)) | None => Ok(()),
            };
        }
        if id.is_multiple_of(2) {
            return Err(protocol(
                Reason::PROTOCOL_ERROR,
                "even stream id from a client",
            ));
        }
        self.last_stream = id;
        if self.going_away {
            // After our GOAWAY: ignored; the client retries it elsewhere.
            return Ok(());
        }
        let mut sh = lock(&self.shared);
        if sh.streams.len() >= self.settings.max_streams as usize {
            frame::put_reset(&mut sh.out, id, Reason::REFUSED_STREAM);
            return Ok(());
        }
        if over {
            // RFC 9113 section 8.2.3's 431; the fields were never kept.
            tracing::debug!(
                stream = id,
                "HTTP/2 request header list over the limit: 431"
            );
            let Shared {
                out,
                encoder,
                max_frame,
                ..
            } = &mut *sh;
            let start = frame::reserve_head(out);
            encoder.status(out, 431);
            frame::finish_headers(out, start, id, true, *max_frame);
            if !end_stream {
                frame::put_reset(&mut sh.out, id, Reason::NO_ERROR);
            }
            return Ok(());
        }
        let content_length = head.content_length();
        let req = match head.into_request(&mut self.arena) {
            Ok(req) => req,
            Err(why) => {
                tracing::debug!(stream = id, why, "malformed HTTP/2 request");
                frame::put_reset(&mut sh.out, id, Reason::PROTOCOL_ERROR);
                return Ok(());
            }
        };
        if end_stream && content_length.is_some_and(|cl| cl > 0) {
            tracing::debug!(
                stream = id,
                "HTTP/2 request ends with content-length > 0 and no body"
            );
            frame::put_reset(&mut sh.out, id, Reason::PROTOCOL_ERROR);
            return Ok(());
        }
        sh.open(id, end_stream, content_length);
        drop(sh);
        self.accepted += 1;
        running.push(serve(req, StreamRef::new(Arc::clone(&self.shared), id)));
        Ok(())
    }
}
