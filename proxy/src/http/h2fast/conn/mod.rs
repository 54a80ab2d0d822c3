//! The connection: reads frames, keeps the HTTP/2 state machine (settings, flow control, stream
//! lifecycle, GOAWAY, keep-alive PINGs), starts a stream future for each request, and writes
//! what the streams queued, once per turn.

mod control;
mod recv;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use http::Request;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::deadline::{Due, Timer};
use super::running::Running;
use super::shared::{HIGH_WATER, OUT_KEEP, OUT_START, RECV_WINDOW, Shared, StreamRef, lock};
use crate::http::h2codec::Reason;
use crate::http::h2codec::frame::{self, FrameError};
use crate::http::h2codec::hpack::Decoder;
use crate::task::Alarm;

/// How long a keep-alive PING may go unanswered (hyper's setting on the other path).
const PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Our SETTINGS_HEADER_TABLE_SIZE: the default, so no SETTINGS entry is needed.
const TABLE_SIZE: usize = 4096;
/// Streams reset by the client, beyond which a connection resetting most of what it opens is
/// closed (the "rapid reset" attack, CVE-2023-44487).
const RESET_ALLOWANCE: u64 = 100;
/// The payload of the PING that follows the first GOAWAY of a graceful close: its answer means
/// the client has seen that GOAWAY, so every stream it opened before is in.
const DRAIN_PING: [u8; 8] = *b"draining";
/// The largest stream id: the first GOAWAY of a graceful close names it (RFC 9113 section 6.8).
const MAX_STREAM_ID: u32 = (1 << 31) - 1;

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("client sent something other than the HTTP/2 connection preface")]
    Preface,
    #[error("client sent no HTTP/2 connection preface in time")]
    NoPreface,
    #[error("{reason}: {what}")]
    Protocol { reason: Reason, what: &'static str },
    #[error("client did not answer a keep-alive PING")]
    Keepalive,
}

fn protocol(reason: Reason, what: &'static str) -> ConnError {
    ConnError::Protocol { reason, what }
}

/// What a HEADERS frame said about its header block.
#[derive(Clone, Copy)]
struct BlockHead {
    stream: u32,
    end_stream: bool,
    /// Its priority names the stream itself.
    self_dependent: bool,
}

/// HEADERS waiting for its CONTINUATION frames.
struct Partial {
    head: BlockHead,
    block: BytesMut,
}

/// Limits the connection enforces.
pub struct Settings {
    pub max_streams: u32,
    pub max_header_list: usize,
    /// PING the client when this long passes without one.
    pub keepalive: Duration,
    /// How long the client has to send its preface.
    pub preface_timeout: Duration,
}

pub struct Conn<I> {
    io: I,
    rbuf: BytesMut,
    shared: Arc<Mutex<Shared>>,
    decoder: Decoder,
    /// Where decoded request fields are kept (`request::Head`).
    arena: BytesMut,
    partial: Option<Partial>,
    settings: Settings,
    /// The highest stream id the client has opened.
    last_stream: u32,
    preface: bool,
    /// We sent the GOAWAY with the last stream id: no new streams.
    going_away: bool,
    /// We sent the first GOAWAY of a graceful close (2^31-1) and wait for the client to answer
    /// the PING after it: streams it opens meanwhile are still served.
    draining: bool,
    /// The client sent GOAWAY: it opens no new streams.
    client_done: bool,
    /// A connection error to report once the GOAWAY that says so is written.
    closing: Option<ConnError>,
    accepted: u64,
    resets: u64,
    ping: Alarm,
    ping_sent: bool,
    /// The streams' request deadlines.
    deadlines: Timer,
    /// The client closed its side of the connection.
    eof: bool,
    /// Reading stopped because the write buffer is full.
    read_blocked: bool,
}

impl<I: AsyncRead + AsyncWrite + Unpin> Conn<I> {
    /// A connection whose first bytes from the client are to be the preface; our SETTINGS go
    /// out with the first write.
    pub fn new(io: I, settings: Settings) -> Self {
        let mut shared = Shared::new();
        frame::put_settings(
            &mut shared.out,
            &[
                (0x3, settings.max_streams),
                (0x4, RECV_WINDOW),
                (
                    0x6,
                    u32::try_from(settings.max_header_list).unwrap_or(u32::MAX),
                ),
            ],
        );
        frame::put_window_update(&mut shared.out, 0, RECV_WINDOW - 65_535);
        Conn {
            io,
            rbuf: BytesMut::with_capacity(16 * 1024),
            shared: Arc::new(Mutex::new(shared)),
            decoder: Decoder::new(TABLE_SIZE),
            arena: BytesMut::new(),
            partial: None,
            ping: Alarm::new(Instant::now() + settings.preface_timeout),
            settings,
            last_stream: 0,
            preface: false,
            going_away: false,
            draining: false,
            client_done: false,
            closing: None,
            accepted: 0,
            resets: 0,
            ping_sent: false,
            deadlines: Timer::new(),
            eof: false,
            read_blocked: false,
        }
    }

    /// Starts a graceful close in two steps (RFC 9113 section 6.8): a GOAWAY with the largest
    /// stream id and a PING now; the final GOAWAY, naming the last stream the client opened, when
    /// the PING's answer comes (or at [`Conn::final_goaway`]). A single GOAWAY with the last id
    /// seen refused the streams the client had sent meanwhile, which it had no way to know.
    pub fn graceful_shutdown(&mut self) {
        if !self.going_away && !self.draining {
            self.draining = true;
            let mut sh = lock(&self.shared);
            frame::put_goaway(&mut sh.out, MAX_STREAM_ID, Reason::NO_ERROR, b"");
            frame::put_ping(&mut sh.out, false, DRAIN_PING);
        }
    }

    /// Drives the connection and its streams until the connection closes (`Ok`: the client
    /// went away, or a graceful close finished with no stream left).
    pub async fn run<S>(
        &mut self,
        mut running: Pin<&mut Running<S>>,
        mut serve: impl FnMut(Request<()>, StreamRef) -> S,
    ) -> Result<(), ConnError>
    where
        S: Future<Output = ()>,
    {
        std::future::poll_fn(|cx| self.poll(cx, running.as_mut(), &mut serve)).await
    }

    fn poll<S: Future<Output = ()>>(
        &mut self,
        cx: &mut Context<'_>,
        mut running: Pin<&mut Running<S>>,
        serve: &mut impl FnMut(Request<()>, StreamRef) -> S,
    ) -> Poll<Result<(), ConnError>> {
        loop {
            running.as_mut().poll(cx);
            if self.closing.is_none() && self.ping.poll_rang(cx) {
                if !self.preface {
                    return Poll::Ready(Err(ConnError::NoPreface));
                }
                if self.ping_sent {
                    return Poll::Ready(Err(ConnError::Keepalive));
                }
                self.ping_sent = true;
                frame::put_ping(&mut lock(&self.shared).out, false, *b"sockmesh");
                self.ping.set(Instant::now() + PING_TIMEOUT);
            }
            let mut progressed = false;
            if self.closing.is_none() && !self.eof {
                match self.poll_frames(cx, running.as_mut(), serve) {
                    Poll::Ready(Ok(true)) => progressed = true,
                    // The client closed: what is queued still goes out, then we close too.
                    Poll::Ready(Ok(false)) => self.eof = true,
                    Poll::Ready(Err(error)) => self.fail(error),
                    Poll::Pending => {}
                }
            }
            let flushed = match self.poll_flush(cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => false,
            };
            if flushed {
                if let Some(error) = self.closing.take() {
                    return Poll::Ready(Err(error));
                }
                if self.eof || ((self.going_away || self.client_done) && running.is_empty()) {
                    return Poll::Ready(Ok(()));
                }
            }
            // Reading stopped for a full buffer that the flush has since drained: no socket
            // wake-up is coming for what may already be waiting, so read again now.
            if self.read_blocked && lock(&self.shared).out.len() < HIGH_WATER {
                progressed = true;
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    }

    /// A connection error: GOAWAY with its reason, then close once that is written.
    fn fail(&mut self, error: ConnError) {
        if let ConnError::Protocol { reason, what } = &error {
            let mut sh = lock(&self.shared);
            frame::put_goaway(&mut sh.out, self.last_stream, *reason, what.as_bytes());
        }
        self.going_away = true;
        self.closing = Some(error);
    }

    /// Reads and handles frames until the socket has no more or the write buffer is full.
    /// `Ok(true)`: something was handled; `Ok(false)`: the client closed the connection.
    fn poll_frames<S: Future<Output = ()>>(
        &mut self,
        cx: &mut Context<'_>,
        mut running: Pin<&mut Running<S>>,
        serve: &mut impl FnMut(Request<()>, StreamRef) -> S,
    ) -> Poll<Result<bool, ConnError>> {
        let mut handled = false;
        loop {
            self.read_blocked = lock(&self.shared).out.len() >= HIGH_WATER;
            if self.read_blocked {
                // The client is not reading: stop reading from it (its PINGs and SETTINGS
                // would otherwise queue answers without bound) until the flush catches up.
                return if handled {
                    Poll::Ready(Ok(true))
                } else {
                    Poll::Pending
                };
            }
            if !self.preface {
                let n = self.rbuf.len().min(frame::PREFACE.len());
                if self.rbuf[..n] != frame::PREFACE[..n] {
                    return Poll::Ready(Err(ConnError::Preface));
                }
                if n == frame::PREFACE.len() {
                    self.rbuf.advance(frame::PREFACE.len());
                    self.preface = true;
                    let next = Instant::now() + self.settings.keepalive;
                    self.ping.set(next);
                    continue;
                }
            } else {
                match frame::parse(&mut self.rbuf, frame::DEFAULT_MAX_FRAME) {
                    Ok(Some(f)) => {
                        self.handle(f, running.as_mut(), serve)?;
                        handled = true;
                        continue;
                    }
                    Ok(None) => {}
                    Err(FrameError::Connection(reason, what)) => {
                        return Poll::Ready(Err(protocol(reason, what)));
                    }
                    Err(FrameError::Stream(..)) if self.partial.is_some() => {
                        return Poll::Ready(Err(protocol(
                            Reason::PROTOCOL_ERROR,
                            "expected CONTINUATION",
                        )));
                    }
                    Err(FrameError::Stream(id, reason, what)) => {
                        tracing::debug!(stream = id, %reason, what, "HTTP/2 stream error");
                        self.stream_error(id, reason)?;
                        handled = true;
                        continue;
                    }
                }
            }
            if self.rbuf.capacity() - self.rbuf.len() < 4096 {
                self.rbuf.reserve(16 * 1024);
            }
            match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.rbuf) {
                Poll::Ready(Ok(0)) => {
                    if self.preface && !self.rbuf.is_empty() {
                        tracing::debug!("HTTP/2 client closed mid-frame");
                    }
                    return Poll::Ready(Ok(false));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => {
                    return if handled {
                        Poll::Ready(Ok(true))
                    } else {
                        Poll::Pending
                    };
                }
            }
        }
    }

    /// Writes what is queued.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut sh = lock(&self.shared);
        // The deadlines the streams asked for this turn, under the lock the flush takes anyway;
        // streams past theirs are woken (their answers are flushed on a later turn).
        if let Due::Expire(now) = self.deadlines.poll(cx, &mut sh.deadlines) {
            let next = sh.expire(now);
            self.deadlines.rearm(cx, &mut sh.deadlines, next);
        }
        let was_full = sh.out.len() >= HIGH_WATER;
        while !sh.out.is_empty() {
            match Pin::new(&mut self.io).poll_write(cx, &sh.out) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => sh.out.advance(n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    if was_full && sh.out.len() < HIGH_WATER {
                        sh.wake_senders();
                    }
                    return Poll::Pending;
                }
            }
        }
        // A socket's flush is a no-op; user-space TLS may still hold records.
        if let Poll::Ready(Err(e)) = Pin::new(&mut self.io).poll_flush(cx) {
            return Poll::Ready(Err(e));
        }
        if was_full {
            sh.wake_senders();
        }
        // A large response grew the buffer: an idle connection keeps 16 KiB, not the peak.
        if sh.out.capacity() > OUT_KEEP {
            sh.out = BytesMut::with_capacity(OUT_START);
        }
        Poll::Ready(Ok(()))
    }
}
