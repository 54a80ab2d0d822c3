//! The log writer: lines go to stdout from a thread of their own (a slow pipe never stalls the
//! data path), and that thread starts with the first line written.
//!
//! Why lazily: a sidecar that logs nothing (warnings only, no access log) then runs its one
//! worker as the process's only thread. Linux takes a cheaper path on every socket call of a
//! process whose file table no other thread shares (`fdget` without reference counting): 2-3%
//! of the CPU per request in `bench/http` (h2load, one stream per connection).

use std::io;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::MakeWriter;

/// Lines buffered for the writer thread. The channel's slots are allocated and written up front
/// (32 bytes each: 64 KiB held for the whole run, where 8,192 lines cost 256 KiB of an idle
/// sidecar's RSS). 2,048 lines absorb about 40 ms of access log at 50,000 requests/s; past that,
/// lines are dropped and counted (`sockmesh_log_lines_dropped_total`).
const LOG_BUFFER_LINES: usize = 2048;

struct State<W> {
    /// Opens the output; called once, for the first line written.
    open: fn() -> W,
    writer: OnceLock<NonBlocking>,
    /// Dropped by [`Flush`]: what is buffered is written, then the thread ends.
    guard: Mutex<Option<WorkerGuard>>,
}

/// The `MakeWriter` of the log layers: starts the writer thread on first use.
pub struct LazyWriter<W>(Arc<State<W>>);

impl<W> Clone for LazyWriter<W> {
    fn clone(&self) -> Self {
        LazyWriter(Arc::clone(&self.0))
    }
}

/// Flushes the buffered lines and stops the writer thread when dropped (if it ever started).
pub struct Flush<W>(Arc<State<W>>);

impl<W: io::Write + Send + 'static> LazyWriter<W> {
    /// A writer to what `open` opens (`std::io::stdout`), and the handle that flushes it.
    pub fn new(open: fn() -> W) -> (Self, Flush<W>) {
        let state = Arc::new(State {
            open,
            writer: OnceLock::new(),
            guard: Mutex::new(None),
        });
        (LazyWriter(Arc::clone(&state)), Flush(state))
    }

    fn writer(&self) -> &NonBlocking {
        self.0.writer.get_or_init(|| {
            let (writer, guard) = NonBlockingBuilder::default()
                .lossy(true)
                .buffered_lines_limit(LOG_BUFFER_LINES)
                .finish((self.0.open)());
            *self.0.guard.lock().unwrap_or_else(PoisonError::into_inner) = Some(guard);
            writer
        })
    }
}

impl<W> LazyWriter<W> {
    /// Lines dropped because the output did not keep up.
    pub fn dropped_lines(&self) -> usize {
        self.0
            .writer
            .get()
            .map_or(0, |w| w.error_counter().dropped_lines())
    }

    /// Whether the writer thread has started.
    #[cfg(test)]
    pub fn started(&self) -> bool {
        self.0.writer.get().is_some()
    }
}

impl<'a, W: io::Write + Send + 'static> MakeWriter<'a> for LazyWriter<W> {
    type Writer = NonBlocking;

    fn make_writer(&'a self) -> NonBlocking {
        self.writer().clone()
    }
}

impl<W> std::fmt::Debug for LazyWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyWriter")
            .field("started", &self.0.writer.get().is_some())
            .finish()
    }
}

impl<W> Drop for Flush<W> {
    fn drop(&mut self) {
        let guard = self
            .0
            .guard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(guard);
    }
}
