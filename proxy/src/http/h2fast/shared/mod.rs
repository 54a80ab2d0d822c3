//! What the connection and its streams share: the write buffer every frame goes into, and each
//! open stream's state (received body, flow-control windows, request deadline, the stream's
//! waker). `StreamRef` is a stream's handle on it.
//!
//! The connection and all its streams run in one task, so the lock is never contended; it is
//! there because the task must be `Send`. A stream's future wakes only for its own events
//! (body data, window, reset, deadline), set by the connection as frames arrive and as its
//! timer fires.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use super::deadline::Wanted;
use super::queue::BodyQueue;
use crate::http::h2codec::Reason;
use crate::http::h2codec::frame;
use crate::http::h2codec::hpack::Encoder;

mod stream_ref;

pub use stream_ref::{Interrupted, StreamRef};

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
    /// While the stream waits for its response head: when it stops waiting.
    deadline: Option<Instant>,
    timed_out: bool,
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
    /// The streams' deadlines against the connection's timer.
    pub deadlines: Wanted,
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
            deadlines: Wanted::default(),
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
                deadline: None,
                timed_out: false,
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

    /// Marks and wakes the streams whose deadline is `now` or before; the earliest deadline
    /// left, for the connection's timer.
    pub fn expire(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for s in self.streams.values_mut() {
            match s.deadline {
                Some(d) if d <= now => {
                    s.deadline = None;
                    s.timed_out = true;
                    s.wake();
                }
                Some(d) => next = Some(next.map_or(d, |n| n.min(d))),
                None => {}
            }
        }
        next
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
