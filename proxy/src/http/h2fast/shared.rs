//! What the connection and its streams share: the write buffer every frame goes into, and each
//! open stream's state (received body, flow-control windows, the stream's waker).
//!
//! The connection and all its streams run in one task, so the lock is never contended; it is
//! there because the task must be `Send`. A stream's future wakes only for its own events
//! (body data, window, reset), set by the connection as frames arrive.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

use super::queue::BodyQueue;
use crate::http::h2codec::Reason;
use crate::http::h2codec::frame;
use crate::http::h2codec::hpack::{self, Encoder};

/// Our SETTINGS_INITIAL_WINDOW_SIZE and connection window (hyper's on the other path).
pub const RECV_WINDOW: u32 = 1024 * 1024;
/// The write buffer's first size, and the most an empty one keeps (a large body grows it).
pub const OUT_START: usize = 16 * 1024;
pub const OUT_KEEP: usize = 64 * 1024;
/// Stop reading frames, and stop streams from queueing DATA, while this much is unsent.
pub const HIGH_WATER: usize = 256 * 1024;
const MAX_WINDOW: i64 = (1 << 31) - 1;

/// The stream is gone: the client reset it, or the connection is closing.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the client reset the stream ({0})")]
pub struct Gone(pub Reason);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recv {
    Open,
    /// END_STREAM seen.
    End,
    Reset(Reason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Send {
    /// No response head yet.
    Idle,
    Open,
    End,
    Reset,
}

pub struct Stream {
    pub recv: Recv,
    send: Send,
    queue: BodyQueue,
    /// The stream no longer reads its body: DATA is released as it comes.
    discard: bool,
    /// What the client may still send on this stream.
    pub recv_window: i64,
    unreleased: u32,
    send_window: i64,
    /// `content-length` of the request, and the body bytes seen so far.
    pub content_length: Option<u64>,
    pub received: u64,
    waker: Option<Waker>,
}

impl Stream {
    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// A hasher for stream ids (odd u32s chosen by the client): multiply and go.
#[derive(Default, Clone, Copy)]
pub struct IdHash(u64);

impl std::hash::Hasher for IdHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub type Streams = HashMap<u32, Stream, std::hash::BuildHasherDefault<IdHash>>;

pub struct Shared {
    /// Encoded frames not yet written to the client.
    pub out: BytesMut,
    pub encoder: Encoder,
    pub streams: Streams,
    /// The client's connection window for our DATA, and its SETTINGS_INITIAL_WINDOW_SIZE.
    pub conn_send: i64,
    pub init_send: i64,
    /// The client's SETTINGS_MAX_FRAME_SIZE.
    pub max_frame: usize,
    /// Bytes of received DATA consumed but not yet returned to the client's connection window.
    pub conn_unreleased: u32,
    /// What the client may still send on the connection: DATA beyond it is a connection error.
    pub conn_recv: i64,
}

impl Shared {
    pub fn new() -> Self {
        Shared {
            out: BytesMut::with_capacity(OUT_START),
            encoder: Encoder::default(),
            streams: Streams::default(),
            conn_send: 65_535,
            init_send: 65_535,
            max_frame: frame::DEFAULT_MAX_FRAME,
            conn_unreleased: 0,
            conn_recv: i64::from(RECV_WINDOW),
        }
    }

    /// A new stream from the client.
    pub fn open(&mut self, id: u32, end_stream: bool, content_length: Option<u64>) {
        self.streams.insert(
            id,
            Stream {
                recv: if end_stream { Recv::End } else { Recv::Open },
                send: Send::Idle,
                queue: BodyQueue::default(),
                discard: false,
                recv_window: i64::from(RECV_WINDOW),
                unreleased: 0,
                send_window: self.init_send,
                content_length,
                received: 0,
                waker: None,
            },
        );
    }

    /// Returns `n` bytes of connection window to the client once half the window is used.
    pub fn release_conn(&mut self, n: u32) {
        self.conn_unreleased += n;
        if self.conn_unreleased >= RECV_WINDOW / 2 {
            frame::put_window_update(&mut self.out, 0, self.conn_unreleased);
            self.conn_recv += i64::from(self.conn_unreleased);
            self.conn_unreleased = 0;
        }
    }

    /// Returns `n` bytes of `id`'s window (and the connection's).
    fn give_back(&mut self, id: u32, n: u32) {
        self.release_conn(n);
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        s.unreleased += n;
        s.recv_window += i64::from(n);
        if s.unreleased >= RECV_WINDOW / 2 && s.recv == Recv::Open {
            frame::put_window_update(&mut self.out, id, s.unreleased);
            s.unreleased = 0;
        }
    }

    /// DATA for stream `s` (flow control already charged): queued for its reader.
    pub fn deliver(&mut self, id: u32, data: Bytes, padding: u32) {
        if padding > 0 {
            self.give_back(id, padding);
        }
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.discard {
            let n = data.len() as u32;
            self.give_back(id, n);
            return;
        }
        if !data.is_empty() {
            s.queue.push(data);
        }
        s.wake();
    }

    /// The client ended or reset stream `id`.
    pub fn recv_closed(&mut self, id: u32, how: Recv) {
        if let Some(s) = self.streams.get_mut(&id) {
            s.recv = how;
            if let Recv::Reset(_) = how {
                s.send = Send::Reset;
            }
            s.wake();
        }
    }

    /// The stream breaks the protocol: reset it (stream error, RFC 9113 section 5.4.2).
    pub fn reset(&mut self, id: u32, reason: Reason) {
        frame::put_reset(&mut self.out, id, reason);
        self.recv_closed(id, Recv::Reset(reason));
    }

    /// The client's SETTINGS_INITIAL_WINDOW_SIZE changed. `Err`: a window overflowed.
    pub fn set_init_send(&mut self, size: u32) -> Result<(), ()> {
        if i64::from(size) > MAX_WINDOW {
            return Err(());
        }
        let delta = i64::from(size) - self.init_send;
        self.init_send = i64::from(size);
        for s in self.streams.values_mut() {
            s.send_window += delta;
            if s.send_window > MAX_WINDOW {
                return Err(());
            }
            if delta > 0 {
                s.wake();
            }
        }
        Ok(())
    }

    /// WINDOW_UPDATE. `Err`: the window overflowed (the caller resets or closes).
    pub fn window_update(&mut self, id: u32, increment: u32) -> Result<(), ()> {
        if id == 0 {
            self.conn_send += i64::from(increment);
            if self.conn_send > MAX_WINDOW {
                return Err(());
            }
            self.wake_senders();
            return Ok(());
        }
        if let Some(s) = self.streams.get_mut(&id) {
            s.send_window += i64::from(increment);
            if s.send_window > MAX_WINDOW {
                return Err(());
            }
            s.wake();
        }
        Ok(())
    }

    /// Wakes the streams that may be waiting to send (window opened, buffer drained).
    pub fn wake_senders(&mut self) {
        for s in self.streams.values_mut() {
            if s.send == Send::Open {
                s.wake();
            }
        }
    }
}

/// The lock, which a panic elsewhere cannot have left inconsistent in a way that matters here.
pub fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
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
            let Shared {
                out,
                encoder,
                max_frame,
                conn_send,
                ..
            } = sh;
            let start = frame::reserve_head(out);
            encoder.status(out, status);
            out.extend_from_slice(fields);
            frame::finish_headers(out, start, id, false, *max_frame);
            if !whole {
                s.send = Send::Open;
                return Ok(false);
            }
            s.send = Send::End;
            s.send_window -= body.len() as i64;
            *conn_send -= body.len() as i64;
            frame::put_data(out, id, body, true, *max_frame);
            Ok(true)
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
        self.with(|sh, id| {
            let s = sendable(&mut sh.streams, id, from)?;
            s.send = if end { Send::End } else { Send::Open };
            let Shared {
                out,
                encoder,
                max_frame,
                ..
            } = sh;
            let start = frame::reserve_head(out);
            write(encoder, out);
            frame::finish_headers(out, start, id, end, *max_frame);
            Ok(())
        })
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
        self.with(|sh, id| {
            let s = sendable(&mut sh.streams, id, Send::Open)?;
            s.send_window -= data.len() as i64;
            if end {
                s.send = Send::End;
            }
            sh.conn_send -= data.len() as i64;
            frame::put_data(&mut sh.out, id, data, end, sh.max_frame);
            Ok(())
        })
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
