//! A stream's handle on the connection's shared state: the only way a stream's future reads
//! its request body and sends its response. Every call takes the lock once; the calls are
//! shaped so that a small exchange needs few of them (`send_whole`).

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use tokio::time::Instant;

use super::{Gone, HIGH_WATER, Recv, Send, Shared, Stream, Streams, lock};
use crate::http::h2codec::hpack::{self, Encoder};
use crate::http::h2codec::{Reason, frame};

/// Why a stream stopped waiting for its response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    Reset(Reason),
    TimedOut,
}

/// A stream's half of the connection, owned by the stream's future: reads the request body,
/// sends the response. Dropping it ends the stream (see [`Drop`]).
pub struct StreamRef {
    shared: Arc<Mutex<Shared>>,
    id: u32,
}

impl StreamRef {
    pub fn new(shared: Arc<Mutex<Shared>>, id: u32) -> Self {
        StreamRef { shared, id }
    }

    /// Runs `f` on the shared state, for this stream's id (which `f` looks up: the stream may be
    /// gone).
    fn with<T>(&self, f: impl FnOnce(&mut Shared, u32) -> T) -> T {
        f(&mut lock(&self.shared), self.id)
    }

    /// The next chunk of the request body; `None` at its end.
    pub fn poll_data(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Gone>>> {
        self.with(|sh, id| {
            let Some(s) = sh.streams.get_mut(&id) else {
                return Poll::Ready(Some(Err(Gone(Reason::CANCEL))));
            };
            if let Some(data) = s.queue.pop() {
                return Poll::Ready(Some(Ok(data)));
            }
            match s.recv {
                Recv::End => Poll::Ready(None),
                Recv::Reset(r) => Poll::Ready(Some(Err(Gone(r)))),
                Recv::Open => {
                    register(&mut s.waker, cx);
                    Poll::Pending
                }
            }
        })
    }

    pub async fn data(&self) -> Option<Result<Bytes, Gone>> {
        std::future::poll_fn(|cx| self.poll_data(cx)).await
    }

    /// Whether the body has ended with nothing left to read.
    pub fn is_end_stream(&self) -> bool {
        self.with(|sh, id| {
            sh.streams
                .get(&id)
                .is_some_and(|s| s.recv == Recv::End && s.queue.is_empty())
        })
    }

    /// Whether the client has sent its whole request (END_STREAM came), read or not.
    pub fn is_received(&self) -> bool {
        self.with(|sh, id| sh.streams.get(&id).is_some_and(|s| s.recv == Recv::End))
    }

    /// `n` bytes of body were consumed: the client may send that many more.
    pub fn release(&self, n: usize) {
        self.with(|sh, id| {
            if let Some(s) = sh.streams.get_mut(&id) {
                let n = s.queue.returned(n);
                sh.give_back(id, n as u32);
            }
        });
    }

    /// The body will not be read: what is queued and what comes is released at once.
    pub fn discard_body(&self) {
        self.with(|sh, id| {
            let Some(s) = sh.streams.get_mut(&id) else {
                return;
            };
            s.discard = true;
            // Taken and never written upstream counts too (an upload cut short).
            let held = s.queue.clear();
            sh.give_back(id, held as u32);
        });
    }

    /// Ready once the client has reset the stream.
    pub fn poll_reset(&self, cx: &mut Context<'_>) -> Poll<Reason> {
        self.with(|sh, id| match sh.streams.get_mut(&id) {
            None => Poll::Ready(Reason::CANCEL),
            Some(s) => match s.recv {
                Recv::Reset(r) => Poll::Ready(r),
                _ => {
                    register(&mut s.waker, cx);
                    Poll::Pending
                }
            },
        })
    }

    /// Ready once the client has reset the stream, or `deadline` has passed (it is recorded
    /// for the connection's timer on the first call; see `super::deadline`). Sending the
    /// response head ends the wait.
    pub fn poll_deadline(&self, cx: &mut Context<'_>, deadline: Instant) -> Poll<Interrupted> {
        self.with(|sh, id| {
            let Some(s) = sh.streams.get_mut(&id) else {
                return Poll::Ready(Interrupted::Reset(Reason::CANCEL));
            };
            if let Recv::Reset(r) = s.recv {
                return Poll::Ready(Interrupted::Reset(r));
            }
            if s.timed_out {
                return Poll::Ready(Interrupted::TimedOut);
            }
            if s.deadline.is_none() {
                s.deadline = Some(deadline);
                sh.deadlines.need(deadline);
            }
            register(&mut s.waker, cx);
            Poll::Pending
        })
    }

    pub fn is_reset(&self) -> bool {
        self.with(|sh, id| {
            sh.streams
                .get(&id)
                .is_none_or(|s| matches!(s.recv, Recv::Reset(_)))
        })
    }

    /// Sends the response head; `end`: there is no body.
    pub fn send_head(&self, status: u16, headers: &HeaderMap, end: bool) -> Result<(), Gone> {
        self.head(status, end, |out| {
            for (name, value) in headers {
                hpack::field(out, name.as_str().as_bytes(), value.as_bytes());
            }
        })
    }

    /// Sends a response head whose fields are HPACK-encoded already (`hpack::field`).
    pub fn send_head_encoded(&self, status: u16, fields: &[u8], end: bool) -> Result<(), Gone> {
        self.head(status, end, |out| out.extend_from_slice(fields))
    }

    /// Sends a response head (fields HPACK-encoded already) and, when the client's windows and
    /// the write buffer have room for all of it, the whole `body` after it, ending the stream:
    /// `Ok(true)`. Else only the head goes, and the body is the caller's to send: `Ok(false)`.
    /// The usual small response costs one lock of the shared state instead of three.
    pub fn send_whole(&self, status: u16, fields: &[u8], body: &[u8]) -> Result<bool, Gone> {
        self.with(|sh, id| {
            let s = sendable(&mut sh.streams, id, Send::Idle)?;
            let room = sh.conn_send.min(s.send_window);
            let whole = room >= body.len() as i64 && sh.out.len() < HIGH_WATER;
            put_block(sh, id, Send::Idle, false, |encoder, out| {
                encoder.status(out, status);
                out.extend_from_slice(fields);
            })?;
            if whole {
                put_data(sh, id, body, true)?;
            }
            Ok(whole)
        })
    }

    fn head(&self, status: u16, end: bool, fields: impl FnOnce(&mut BytesMut)) -> Result<(), Gone> {
        self.block(Send::Idle, end, |encoder, out| {
            encoder.status(out, status);
            fields(out);
        })
    }

    /// A header block (head or trailers) on a stream in state `from`, framed as HEADERS.
    fn block(
        &self,
        from: Send,
        end: bool,
        write: impl FnOnce(&mut Encoder, &mut BytesMut),
    ) -> Result<(), Gone> {
        self.with(|sh, id| put_block(sh, id, from, end, write))
    }

    /// How many body bytes (up to `want`) may be sent now: within both flow-control windows,
    /// and only while the write buffer is not backed up.
    pub fn poll_capacity(&self, cx: &mut Context<'_>, want: usize) -> Poll<Result<usize, Gone>> {
        self.with(|sh, id| {
            let conn = sh.conn_send;
            let backed_up = sh.out.len() >= HIGH_WATER;
            let s = sendable(&mut sh.streams, id, Send::Open)?;
            let window = conn.min(s.send_window);
            if window > 0 && !backed_up {
                return Poll::Ready(Ok(want.min(window as usize)));
            }
            register(&mut s.waker, cx);
            Poll::Pending
        })
    }

    /// Sends body bytes, at most what [`Self::poll_capacity`] allowed; `end`: the last of it.
    pub fn send_data(&self, data: &[u8], end: bool) -> Result<(), Gone> {
        self.with(|sh, id| put_data(sh, id, data, end))
    }

    /// Ends the response with trailer fields.
    pub fn send_trailers(&self, fields: &HeaderMap) -> Result<(), Gone> {
        self.block(Send::Open, true, |encoder, out| {
            encoder.trailers(out);
            for (name, value) in fields {
                hpack::field(out, name.as_str().as_bytes(), value.as_bytes());
            }
        })
    }

    /// Abandons the stream with RST_STREAM.
    pub fn send_reset(&self, reason: Reason) {
        self.with(|sh, id| {
            if let Some(s) = sh.streams.get_mut(&id)
                && !matches!(s.send, Send::Reset)
                && !matches!(s.recv, Recv::Reset(_))
            {
                s.send = Send::Reset;
                sh.reset(id, reason);
            }
        });
    }
}

impl Drop for StreamRef {
    /// Ends the stream: a response left unfinished is reset; a finished one whose request body
    /// is still coming tells the client to stop (RST_STREAM NO_ERROR, RFC 9113 section 8.1);
    /// body data never read goes back to the connection window.
    fn drop(&mut self) {
        let mut sh = lock(&self.shared);
        let Some(mut s) = sh.streams.remove(&self.id) else {
            return;
        };
        let held = s.queue.clear();
        sh.release_conn(held as u32);
        let reason = match (s.send, s.recv) {
            (_, Recv::Reset(_)) | (Send::Reset, _) => None,
            (Send::End, Recv::End) => None,
            (Send::End, Recv::Open) => Some(Reason::NO_ERROR),
            (Send::Idle | Send::Open, _) => Some(Reason::INTERNAL_ERROR),
        };
        if let Some(reason) = reason {
            frame::put_reset(&mut sh.out, self.id, reason);
        }
    }
}

/// Queues stream `id`'s header block (`write` encodes it) as HEADERS, if the stream is in state
/// `from`; a response head ends its wait for a deadline.
fn put_block(
    sh: &mut Shared,
    id: u32,
    from: Send,
    end: bool,
    write: impl FnOnce(&mut Encoder, &mut BytesMut),
) -> Result<(), Gone> {
    let s = sendable(&mut sh.streams, id, from)?;
    s.deadline = None;
    s.send = if end { Send::End } else { Send::Open };
    let start = frame::reserve_head(&mut sh.out);
    write(&mut sh.encoder, &mut sh.out);
    frame::finish_headers(&mut sh.out, start, id, end, sh.max_frame);
    Ok(())
}

/// Queues body bytes of stream `id` as DATA, charged to both send windows (the caller checked
/// they have room).
fn put_data(sh: &mut Shared, id: u32, data: &[u8], end: bool) -> Result<(), Gone> {
    let s = sendable(&mut sh.streams, id, Send::Open)?;
    s.send_window -= data.len() as i64;
    if end {
        s.send = Send::End;
    }
    sh.conn_send -= data.len() as i64;
    frame::put_data(&mut sh.out, id, data, end, sh.max_frame);
    Ok(())
}

/// The stream, if it may still send in state `expected`.
fn sendable(streams: &mut Streams, id: u32, expected: Send) -> Result<&mut Stream, Gone> {
    let s = streams.get_mut(&id).ok_or(Gone(Reason::CANCEL))?;
    match (s.send, s.recv) {
        (_, Recv::Reset(r)) => Err(Gone(r)),
        (state, _) if state == expected => Ok(s),
        _ => Err(Gone(Reason::STREAM_CLOSED)),
    }
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}
