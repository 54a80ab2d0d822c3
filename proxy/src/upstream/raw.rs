//! Plain upstream HTTP/1.1 connections for the fast path (`http/fast`), which writes and reads
//! the bytes itself: a transport and its read buffer, pooled per endpoint next to hyper's.

use std::sync::Arc;

use crate::metrics::Metrics;
use crate::transport::Io;

pub struct RawConn {
    pub stream: Io,
    /// Read buffer; holds nothing between exchanges.
    pub buf: Vec<u8>,
    metrics: Arc<Metrics>,
}

impl RawConn {
    /// Wraps a connected socket already counted in `upstream_connections_active`; the count goes
    /// when this is dropped.
    pub(super) fn new(stream: Io, metrics: Arc<Metrics>) -> RawConn {
        RawConn {
            stream,
            buf: Vec::new(),
            metrics,
        }
    }

    /// An idle connection has nothing to read: a close, or stray bytes, mean the server is done
    /// with it (see [`Io::is_idle_and_open`]).
    pub(super) fn is_idle_and_open(&mut self) -> bool {
        self.stream.is_idle_and_open()
    }
}

impl Drop for RawConn {
    fn drop(&mut self) {
        self.metrics.upstream_active.dec();
    }
}
