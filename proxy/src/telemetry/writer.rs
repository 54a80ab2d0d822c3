//! The log writer: whole lines are appended to one bounded buffer, and a thread of its own writes
//! them to stdout in batches. That thread starts with the first line written.
//!
//! Why batches: the access log writes a line per request. Handing each line to the thread on
//! its own (the `tracing-appender` channel this replaces: an allocation, a channel send and a
//! wake-up per line, and a `write(2)` per line on the thread) was most of what a line cost the
//! process: 6.3 us of CPU per request in issue 14's measure, of which formatting was 1.2 us. Here
//! a line is a copy into the buffer under a mutex; the thread is woken only when the buffer goes
//! from empty to not empty while it waits, then lets lines gather for [`LINGER`] and writes them
//! all with one `write(2)`: under load, one write per few hundred lines and no wake-ups.
//! Measured in one sidecar (wrk -c50, 100 rules, stdout to a file on ext4), the access log
//! toggled through `/logging` between runs, 10 rounds, on minus off per round: +3.2 us of CPU
//! per request (human) and +4.7 us (JSON) before, +0.6 and +0.2 after (median), of which this
//! thread, mostly the kernel copying lines into the page cache, is 0.32 and 0.37 us.
//!
//! Why bounded: when stdout does not keep up (a stuck pipe, a paused log collector), lines past
//! [`MAX_PENDING_BYTES`] are dropped and counted (`sockmesh_log_lines_dropped_total`): waiting
//! instead froze every request and the admin server with it, `/live` included.
//!
//! Why lazily: a sidecar that logs nothing (warnings only, no access log) then runs its one
//! worker as the process's only thread. Linux takes a cheaper path on every socket call of a
//! process whose file table no other thread shares (`fdget` without reference counting): 2-3%
//! of the CPU per request in `bench/http` (h2load, one stream per connection).

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Bytes of lines waiting for the writer thread; past this, lines are dropped and counted. With
/// stdout a file on a busy machine, `write(2)` (dirty-page throttling) or the thread's turn on a
/// CPU was seen to stall for ~150 ms: at 1 MiB, bench/http's JSON row (32,000 lines/s of ~330
/// bytes) dropped 1,857 of 900,000 lines. 4 MiB absorbs about 400 ms of that (the buffer this
/// replaced held 2,048 lines, ~60 ms). Memory is taken only as lines come, and given back after
/// a burst ([`KEEP_BYTES`]; beyond 1 MiB glibc maps it, see `memory.rs`).
const MAX_PENDING_BYTES: usize = 4 << 20;
/// How long the writer lets lines gather after the first one of a batch. A line reaches stdout
/// at most this much (plus the write) after it was logged.
const LINGER: Duration = Duration::from_millis(5);
/// A batch buffer larger than this is shrunk back to it once a batch under a quarter of it was
/// written (the load is over). Not after every batch: at 60,000 lines/s a batch is ~85 KB, and
/// shrinking each one made the next fill grow (and copy) the buffer again.
const KEEP_BYTES: usize = 64 * 1024;
/// How long a [`Flush`] waits for the buffered lines to be written (stdout may be stuck).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Opens the output; called once, on the writer thread, before its first write.
pub type Open = fn() -> Box<dyn Write + Send>;

struct State {
    /// Whole lines, in the order they were logged.
    pending: Vec<u8>,
    started: bool,
    /// The writer thread waits for lines (and needs a wake-up).
    idle: bool,
    /// [`Flush`]: write what is pending, then end.
    closing: bool,
    finished: bool,
}

struct Shared {
    open: Open,
    state: Mutex<State>,
    /// The writer thread waits here for lines.
    lines: Condvar,
    /// A [`Flush`] waits here for the thread to finish.
    done: Condvar,
    dropped: AtomicU64,
}

/// Where log lines go: clone it freely; the `MakeWriter` of the `fmt` layer and the access log's
/// sink. Lines are written by one thread, started on first use.
#[derive(Clone)]
pub struct LineWriter(Arc<Shared>);

/// Writes the buffered lines and stops the writer thread when dropped (if it ever started),
/// waiting at most [`FLUSH_TIMEOUT`].
pub struct Flush(Arc<Shared>);

impl LineWriter {
    /// A writer to what `open` opens (stdout), and the handle that flushes it.
    pub fn new(open: Open) -> (LineWriter, Flush) {
        let shared = Arc::new(Shared {
            open,
            state: Mutex::new(State {
                pending: Vec::new(),
                started: false,
                idle: false,
                closing: false,
                finished: false,
            }),
            lines: Condvar::new(),
            done: Condvar::new(),
            dropped: AtomicU64::new(0),
        });
        (LineWriter(Arc::clone(&shared)), Flush(shared))
    }

    /// Queues one whole line (its newline included), or drops and counts it when the buffer is
    /// full or the writer has been flushed for good.
    pub fn push(&self, line: &[u8]) {
        let mut state = self.0.lock();
        if state.closing || state.pending.len() + line.len() > MAX_PENDING_BYTES {
            drop(state);
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !state.started && !self.start(&mut state) {
            drop(state);
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let wake = state.idle && state.pending.is_empty();
        state.pending.extend_from_slice(line);
        drop(state);
        if wake {
            self.0.lines.notify_one();
        }
    }

    /// Starts the writer thread. False if the system would not give one.
    fn start(&self, state: &mut State) -> bool {
        let shared = Arc::clone(&self.0);
        let spawned = std::thread::Builder::new()
            .name("sockmesh-log".into())
            .spawn(move || shared.run());
        state.started = spawned.is_ok();
        state.started
    }

    /// Lines dropped because the output did not keep up.
    pub fn dropped_lines(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// Whether the writer thread has started.
    #[cfg(test)]
    pub fn started(&self) -> bool {
        self.0.lock().started
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer thread: waits for lines, lets a batch gather, writes it, until flushed.
    fn run(&self) {
        let mut out = (self.open)();
        let mut batch = Vec::new();
        while let Some(closing) = self.wait_for_lines() {
            if !closing {
                std::thread::sleep(LINGER);
            }
            std::mem::swap(&mut self.lock().pending, &mut batch);
            if out.write_all(&batch).and_then(|()| out.flush()).is_err() {
                let lines = batch.iter().filter(|&&b| b == b'\n').count();
                self.dropped.fetch_add(lines as u64, Ordering::Relaxed);
            }
            if batch.len() < KEEP_BYTES / 4 {
                batch.shrink_to(KEEP_BYTES);
            }
            batch.clear();
        }
        self.lock().finished = true;
        self.done.notify_all();
    }

    /// Waits until lines are pending (`Some(closing)`), or the writer is closing with nothing
    /// left to write (`None`).
    fn wait_for_lines(&self) -> Option<bool> {
        let mut state = self.lock();
        while state.pending.is_empty() && !state.closing {
            state.idle = true;
            state = self
                .lines
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.idle = false;
        (!state.pending.is_empty()).then_some(state.closing)
    }
}

impl<'a> MakeWriter<'a> for LineWriter {
    type Writer = LineRef<'a>;

    fn make_writer(&'a self) -> LineRef<'a> {
        LineRef(self)
    }
}

/// The `fmt` layer's writer for one event: it writes each formatted line with one `write_all`,
/// which becomes one [`LineWriter::push`].
pub struct LineRef<'a>(&'a LineWriter);

impl Write for LineRef<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for LineWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineWriter")
            .field("dropped", &self.dropped_lines())
            .finish()
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.closing = true;
        if !state.started {
            return;
        }
        self.0.lines.notify_one();
        let _ = self
            .0
            .done
            .wait_timeout_while(state, FLUSH_TIMEOUT, |s| !s.finished);
    }
}
