//! Plain upstream HTTP/1.1 connections for the fast path (`http/fast`), which writes and reads
//! the bytes itself: a transport and its read buffer, pooled per endpoint next to hyper's, and
//! counted against its cluster's `maxConnections` for as long as it is open.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::breaker::{Breaker, ConnSlot, Ready};
use super::idle_clock::IdleSince;
use super::pool::{IDLE_TIMEOUT, MAX_IDLE_PER_ENDPOINT, Pool, UpstreamError};
use crate::metrics::Metrics;
use crate::transport::Io;

pub struct RawConn {
    pub stream: Io,
    /// Read buffer; holds nothing between exchanges.
    pub buf: Vec<u8>,
    metrics: Arc<Metrics>,
    pub(super) slot: ConnSlot,
}

impl RawConn {
    /// Wraps a connected socket already counted in `upstream_connections_active`; the count goes
    /// when this is dropped, and so does its slot under the cluster's cap.
    pub(super) fn new(stream: Io, metrics: Arc<Metrics>, slot: ConnSlot) -> RawConn {
        RawConn {
            stream,
            buf: Vec::new(),
            metrics,
            slot,
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

impl Pool {
    /// An idle fast-path connection to `addr` that is still open (unless `fresh`), and whether
    /// it came from the pool; else a new one within `breaker`'s caps (the cluster's).
    pub async fn checkout_raw(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        fresh: bool,
        breaker: &Arc<Breaker>,
    ) -> Result<(RawConn, bool), UpstreamError> {
        // The common case first. The rest is boxed, as the connects in `pool.rs`: this future
        // is part of every exchange's, and the breaker's wait and the connect are large (measured:
        // 130 instructions a request for building and polling them around a pooled connection).
        if !fresh && let Some(conn) = self.pop_raw(addr) {
            return Ok((conn, true));
        }
        Box::pin(self.new_raw(addr, timeout, fresh, breaker)).await
    }

    /// A connection when none was idle: one that came back while the request waited for room
    /// under `breaker`'s caps (unless `fresh`), or a new one.
    async fn new_raw(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        fresh: bool,
        breaker: &Arc<Breaker>,
    ) -> Result<(RawConn, bool), UpstreamError> {
        let pooled = || (!fresh).then(|| self.pop_raw(addr)).flatten();
        let ready = breaker
            .connection(pooled, || self.evict_idle(breaker))
            .await
            .map_err(|kind| UpstreamError::Overflow { addr, kind })?;
        match ready {
            Ready::Pooled(conn) => Ok((conn, true)),
            Ready::New(slot) => {
                let stream = self.connect_tcp(addr, timeout).await?.into_inner();
                let metrics = Arc::clone(&self.metrics);
                Ok((RawConn::new(stream, metrics, slot), false))
            }
        }
    }

    /// The most recently returned idle connection to `addr` still open and not expired.
    fn pop_raw(&self, addr: SocketAddr) -> Option<RawConn> {
        let mut entries = self.entries.lock().ok()?;
        let idle = &mut entries.get_mut(&addr)?.raw_idle;
        while let Some((mut conn, since)) = idle.pop() {
            if since.age() < IDLE_TIMEOUT && conn.is_idle_and_open() {
                return Some(conn);
            }
        }
        None
    }

    /// Takes back a fast-path connection after a complete exchange.
    pub fn checkin_raw(&self, addr: SocketAddr, mut conn: RawConn) {
        conn.buf.clear();
        if let Ok(mut entries) = self.entries.lock() {
            let entry = entries.entry(addr).or_default();
            if entry.raw_idle.len() < MAX_IDLE_PER_ENDPOINT {
                conn.slot.breaker().returned();
                entry.raw_idle.push((conn, IdleSince::now()));
            }
        }
    }
}
