//! The access log: one `tracing` event with target `access` per HTTP request, gRPC call or opaque
//! TCP connection, carrying the verdict and the rule that decided it.
//!
//! Filter it like any target (`access=info`, `access=off`); with `--log-format json` each line is a
//! JSON object ready for a log pipeline. The filter decides as it does for any event, but the
//! line itself is written by [`line`] into a per-thread buffer and handed whole to the log
//! writer: no `tracing` event is made (see `line.rs` for why and what it saves).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use super::line::{self, Clock, Style};
use super::writer::LineWriter;
use crate::metrics::Metrics;
pub use crate::metrics::{Protocol, VerdictLabel};

/// What one access-log line says.
pub struct Entry<'a> {
    pub listener: &'a str,
    pub protocol: Protocol,
    pub client: SocketAddr,
    /// `GET /path`, `/pkg.Service/Method`, or empty for TCP.
    pub method: &'a str,
    pub path: &'a str,
    pub authority: &'a str,
    pub allowed: bool,
    pub rule: &'a str,
    /// The upstream endpoint, or `-` when the request was not forwarded.
    pub upstream: Option<SocketAddr>,
    /// HTTP status, gRPC status or 0 for TCP.
    pub status: u32,
    pub grpc_status: Option<u32>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration: Duration,
    /// Policy header actions and other notes, e.g. `headerMismatch(x-token)`.
    pub note: &'a str,
}

/// Whether access-log lines are wanted at all (a path may skip making what only the line
/// needs).
pub fn enabled() -> bool {
    tracing::enabled!(target: "access", tracing::Level::INFO)
}

/// Records one finished request or TCP connection: its request series (and denial by rule) in
/// `metrics`, and its access-log line when the access log is on. Every data path ends here.
pub fn record(metrics: &Metrics, label: VerdictLabel, e: &Entry<'_>) {
    metrics.record(e.protocol, label, Some(e.rule), e.duration.as_secs_f64());
    log(e);
}

/// Writes the access-log line of `e`, when the access log is on.
fn log(e: &Entry<'_>) {
    if !enabled() {
        return;
    }
    if let Some(sink) = SINK.get() {
        sink.write(SystemTime::now(), e);
    }
}

/// Where access-log lines go, and how they look: set once, by the first [`super::init`].
static SINK: OnceLock<Sink> = OnceLock::new();

thread_local! {
    /// Each thread's line buffer and clock: no allocation per line.
    static LOCAL: RefCell<(Vec<u8>, Clock)> = RefCell::new((Vec::with_capacity(512), Clock::default()));
}

/// A line longer than this (a long path) does not keep its buffer.
const KEEP_LINE_BYTES: usize = 4096;

/// Formats access-log lines into a per-thread buffer and hands them to a [`LineWriter`].
pub struct Sink {
    style: Style,
    writer: LineWriter,
}

impl Sink {
    pub fn new(style: Style, writer: LineWriter) -> Sink {
        Sink { style, writer }
    }

    /// Makes `sink` where [`log`] writes; false if one was set already.
    pub(super) fn install(sink: Sink) -> bool {
        SINK.set(sink).is_ok()
    }

    /// Writes the line of `e` logged at `now`.
    pub fn write(&self, now: SystemTime, e: &Entry<'_>) {
        LOCAL.with_borrow_mut(|(buf, clock)| {
            buf.clear();
            line::write(buf, clock, self.style, now, e);
            self.writer.push(buf);
            if buf.capacity() > KEEP_LINE_BYTES {
                *buf = Vec::with_capacity(512);
            }
        });
    }
}
