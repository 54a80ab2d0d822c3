//! Plain upstream HTTP/1.1 connections for the fast path (`http/fast`), which writes and reads
//! the bytes itself: a socket and its read buffer, pooled per endpoint next to hyper's.

use std::sync::Arc;

use tokio::net::TcpStream;

use crate::metrics::Metrics;

pub struct RawConn {
    pub stream: TcpStream,
    /// Read buffer; holds nothing between exchanges.
    pub buf: Vec<u8>,
    metrics: Arc<Metrics>,
}

impl RawConn {
    /// Wraps a connected socket already counted in `upstream_connections_active`; the count goes
    /// when this is dropped.
    pub(super) fn new(stream: TcpStream, metrics: Arc<Metrics>) -> RawConn {
        RawConn {
            stream,
            buf: Vec::new(),
            metrics,
        }
    }

    /// An idle connection has nothing to read: a close, or stray bytes, mean the server is done
    /// with it. The reactor's cached readiness answers without a system call (and without
    /// touching the waker registered for the next read), except when it still says readable
    /// from the last exchange; then one non-blocking read decides.
    pub(super) fn is_idle_and_open(&mut self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

impl Drop for RawConn {
    fn drop(&mut self) {
        self.metrics.upstream_active.dec();
    }
}
