//! Pooled upstream HTTP connections, keyed by endpoint and HTTP version.
//!
//! HTTP/1.1 connections are kept in a bounded idle list and returned when the previous response
//! body has been read to its end (by the body itself: no task per request); HTTP/2 connections are shared by all requests to the endpoint. A request that
//! a pooled connection could not even start (the server closed it while idle) is retried once on
//! a fresh connection: it never reached the server, so this is safe for every method.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::Connector;
use super::body::{Return, UpBody, UpstreamBody};
use super::idle_clock::IdleSince;
use super::raw::RawConn;
use crate::metrics::Metrics;
use crate::transport::Io;

/// Idle HTTP/1.1 connections kept per endpoint.
const MAX_IDLE_PER_ENDPOINT: usize = 512;
/// Idle connections older than this are closed instead of reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often [`Pool::sweep`] runs: expired and closed connections go, and so do endpoints with
/// nothing pooled (with interception, every original destination gets an entry).
const SWEEP_INTERVAL: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpVersion {
    Http1,
    Http2,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to upstream {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("upstream {addr} rejected the HTTP handshake: {source}")]
    Handshake {
        addr: SocketAddr,
        source: hyper::Error,
    },
    #[error("upstream {addr} failed the request: {source}")]
    Request {
        addr: SocketAddr,
        source: hyper::Error,
    },
}

impl UpstreamError {
    pub fn is_connect(&self) -> bool {
        matches!(self, UpstreamError::Connect { .. })
    }
}

#[derive(Default)]
struct Entry {
    h1_idle: Vec<(http1::SendRequest<UpBody>, IdleSince)>,
    /// Idle connections of the HTTP/1.1 fast path.
    raw_idle: Vec<(RawConn, IdleSince)>,
    h2: Option<http2::SendRequest<UpBody>>,
    /// Held while an HTTP/2 connection is being set up, so that a burst of first requests
    /// shares one connection instead of opening one each.
    h2_connecting: Arc<tokio::sync::Mutex<()>>,
}

/// The connection pool shared by all listeners.
pub struct Pool {
    entries: Mutex<HashMap<SocketAddr, Entry>>,
    metrics: Arc<Metrics>,
    connector: Connector,
}

impl Pool {
    pub fn new(metrics: Arc<Metrics>, connector: Connector) -> Arc<Pool> {
        Arc::new(Pool {
            entries: Mutex::new(HashMap::new()),
            metrics,
            connector,
        })
    }

    /// How this pool connects: for connections it does not pool (opaque TCP).
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// Sweeps the pool every [`SWEEP_INTERVAL`] until the pool is dropped. Needs a runtime.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                pool.sweep(IdleSince::now());
            }
        });
    }

    /// Closes idle HTTP/1.1 connections that expired (by `now`) or whose server closed them,
    /// forgets closed HTTP/2 connections, and drops endpoints left with nothing.
    fn sweep(&self, now: IdleSince) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        entries.retain(|_, entry| {
            entry
                .h1_idle
                .retain(|(sender, since)| !sender.is_closed() && since.age_at(now) < IDLE_TIMEOUT);
            entry.raw_idle.retain_mut(|(conn, since)| {
                since.age_at(now) < IDLE_TIMEOUT && conn.is_idle_and_open()
            });
            if entry.h2.as_ref().is_some_and(|h2| h2.is_closed()) {
                entry.h2 = None;
            }
            // A strong count above one: a request is connecting and will store its connection.
            !entry.h1_idle.is_empty()
                || !entry.raw_idle.is_empty()
                || entry.h2.is_some()
                || Arc::strong_count(&entry.h2_connecting) > 1
        });
    }

    /// Sends `req` to `addr` over a pooled or new connection of the given version.
    pub async fn send(
        self: &Arc<Self>,
        addr: SocketAddr,
        version: HttpVersion,
        connect_timeout: Duration,
        req: Request<UpBody>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        match version {
            HttpVersion::Http1 => self.send_h1(addr, connect_timeout, req).await,
            // Boxed, like the connects below: this future is moved (into the request timeout)
            // for every request, so the rarer paths' state lives behind a pointer.
            HttpVersion::Http2 => Ok(Box::pin(self.send_h2(addr, connect_timeout, req))
                .await?
                .map(|b| UpstreamBody::new(b, None))),
        }
    }

    async fn send_h1(
        self: &Arc<Self>,
        addr: SocketAddr,
        timeout: Duration,
        mut req: Request<UpBody>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let mut fresh = false;
        loop {
            let pooled = match fresh {
                false => self.checkout_h1(addr).await,
                true => None,
            };
            let mut sender = match pooled {
                Some(s) => s,
                None => {
                    fresh = true;
                    Box::pin(self.connect_h1(addr, timeout)).await?
                }
            };
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    let give_back = Return {
                        pool: Arc::clone(self),
                        addr,
                        sender,
                    };
                    return Ok(resp.map(|b| UpstreamBody::new(b, Some(give_back))));
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if !fresh => req = unsent,
                    _ => {
                        return Err(UpstreamError::Request {
                            addr,
                            source: e.into_error(),
                        });
                    }
                },
            }
        }
    }

    /// The most recently returned idle connection that is still usable. A connection comes back
    /// when its response body ended, possibly before its task noticed: wait for it to be ready.
    async fn checkout_h1(&self, addr: SocketAddr) -> Option<http1::SendRequest<UpBody>> {
        loop {
            let (mut sender, since) = {
                let mut entries = self.entries.lock().ok()?;
                entries.get_mut(&addr)?.h1_idle.pop()?
            };
            if sender.is_closed() || since.age() >= IDLE_TIMEOUT {
                continue;
            }
            if sender.is_ready() || sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// Takes back a connection whose response has been read to the end.
    pub(super) fn checkin_h1(&self, addr: SocketAddr, sender: http1::SendRequest<UpBody>) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            let entry = entries.entry(addr).or_default();
            if entry.h1_idle.len() < MAX_IDLE_PER_ENDPOINT {
                entry.h1_idle.push((sender, IdleSince::now()));
            }
        }
    }

    /// An idle fast-path connection to `addr` that is still open (unless `fresh`), and whether
    /// it came from the pool; else a new one.
    pub async fn checkout_raw(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        fresh: bool,
    ) -> Result<(RawConn, bool), UpstreamError> {
        if !fresh
            && let Ok(mut entries) = self.entries.lock()
            && let Some(entry) = entries.get_mut(&addr)
        {
            while let Some((mut conn, since)) = entry.raw_idle.pop() {
                if since.age() < IDLE_TIMEOUT && conn.is_idle_and_open() {
                    return Ok((conn, true));
                }
            }
        }
        let stream = self.connect_tcp(addr, timeout).await?.into_inner();
        Ok((RawConn::new(stream, Arc::clone(&self.metrics)), false))
    }

    /// Takes back a fast-path connection after a complete exchange.
    pub fn checkin_raw(&self, addr: SocketAddr, mut conn: RawConn) {
        conn.buf.clear();
        if let Ok(mut entries) = self.entries.lock() {
            let entry = entries.entry(addr).or_default();
            if entry.raw_idle.len() < MAX_IDLE_PER_ENDPOINT {
                entry.raw_idle.push((conn, IdleSince::now()));
            }
        }
    }

    async fn connect_h1(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<http1::SendRequest<UpBody>, UpstreamError> {
        let io = self.connect_tcp(addr, timeout).await?;
        let (sender, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|source| UpstreamError::Handshake { addr, source })?;
        let metrics = Arc::clone(&self.metrics);
        tokio::spawn(async move {
            if let Err(error) = conn.with_upgrades().await {
                tracing::debug!(%addr, %error, "upstream HTTP/1.1 connection ended with an error");
            }
            metrics.upstream_active.dec();
        });
        Ok(sender)
    }

    async fn send_h2(
        self: &Arc<Self>,
        addr: SocketAddr,
        timeout: Duration,
        mut req: Request<UpBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let mut fresh = false;
        loop {
            let shared = (!fresh).then(|| self.checkout_h2(addr)).flatten();
            let mut sender = match shared {
                Some(s) => s,
                None => Box::pin(self.connect_h2_once(addr, timeout, &mut fresh)).await?,
            };
            if sender.ready().await.is_err() {
                if fresh {
                    return Err(UpstreamError::Connect {
                        addr,
                        source: std::io::Error::other("new HTTP/2 connection closed at once"),
                    });
                }
                fresh = true;
                continue;
            }
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(resp),
                Err(mut e) => match e.take_message() {
                    Some(unsent) if !fresh => {
                        req = unsent;
                        fresh = true;
                    }
                    _ => {
                        return Err(UpstreamError::Request {
                            addr,
                            source: e.into_error(),
                        });
                    }
                },
            }
        }
    }

    fn checkout_h2(&self, addr: SocketAddr) -> Option<http2::SendRequest<UpBody>> {
        let entries = self.entries.lock().ok()?;
        let sender = entries.get(&addr)?.h2.as_ref()?;
        (!sender.is_closed()).then(|| sender.clone())
    }

    /// Connects unless another request is already connecting, in which case it waits for and
    /// shares that connection. `fresh` tells whether the returned sender is a new connection.
    async fn connect_h2_once(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        fresh: &mut bool,
    ) -> Result<http2::SendRequest<UpBody>, UpstreamError> {
        let lock = match self.entries.lock() {
            Ok(mut entries) => Arc::clone(&entries.entry(addr).or_default().h2_connecting),
            Err(_) => Arc::default(),
        };
        let _connecting = lock.lock().await;
        if !*fresh && let Some(sender) = self.checkout_h2(addr) {
            return Ok(sender);
        }
        *fresh = true;
        self.connect_h2(addr, timeout).await
    }

    async fn connect_h2(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<http2::SendRequest<UpBody>, UpstreamError> {
        let io = self.connect_tcp(addr, timeout).await?;
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .handshake(io)
            .await
            .map_err(|source| UpstreamError::Handshake { addr, source })?;
        let metrics = Arc::clone(&self.metrics);
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%addr, %error, "upstream HTTP/2 connection ended with an error");
            }
            metrics.upstream_active.dec();
        });
        if let Ok(mut entries) = self.entries.lock() {
            entries.entry(addr).or_default().h2 = Some(sender.clone());
        }
        Ok(sender)
    }

    async fn connect_tcp(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<TokioIo<Io>, UpstreamError> {
        match self.connector.connect(addr, timeout).await {
            Ok(stream) => {
                self.metrics.upstream_connects.inc();
                self.metrics.upstream_active.inc();
                Ok(TokioIo::new(stream))
            }
            Err(source) => {
                self.metrics.upstream_connect_errors.inc();
                Err(UpstreamError::Connect { addr, source })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The number of endpoints with an entry, and their idle HTTP/1.1 connections (hyper's and
    /// the fast path's).
    fn held(pool: &Pool) -> (usize, usize) {
        let entries = pool.entries.lock().expect("lock");
        (
            entries.len(),
            entries
                .values()
                .map(|e| e.h1_idle.len() + e.raw_idle.len())
                .sum(),
        )
    }

    /// An empty pool, and a local server to pool connections to.
    async fn pool_and_server() -> (Arc<Pool>, tokio::net::TcpListener, SocketAddr) {
        let server = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        let mut registry = prometheus_client::registry::Registry::default();
        (
            Pool::new(Arc::new(Metrics::new(&mut registry)), Connector::default()),
            server,
            addr,
        )
    }

    #[tokio::test]
    async fn sweep_closes_expired_connections_and_forgets_empty_endpoints() {
        use tokio::io::AsyncReadExt;

        let (pool, server, addr) = pool_and_server().await;
        let sender = pool
            .connect_h1(addr, Duration::from_secs(5))
            .await
            .expect("connect");
        let (mut accepted, _) = server.accept().await.expect("accept");
        pool.checkin_h1(addr, sender);
        assert_eq!(held(&pool), (1, 1));

        pool.sweep(IdleSince::now());
        assert_eq!(held(&pool), (1, 1), "a fresh idle connection was swept");

        pool.sweep(IdleSince::now().plus(IDLE_TIMEOUT));
        assert_eq!(held(&pool), (0, 0), "an expired connection was kept");
        // Its sender is gone, so its connection task closes the socket.
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), accepted.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0))),
            "the expired connection was not closed: {read:?}"
        );
    }

    #[tokio::test]
    async fn sweep_drops_fast_path_connections_the_server_closed() {
        let (pool, server, addr) = pool_and_server().await;
        let (conn, pooled) = pool
            .checkout_raw(addr, Duration::from_secs(5), false)
            .await
            .expect("connect");
        assert!(!pooled, "an empty pool handed out a pooled connection");
        let (accepted, _) = server.accept().await.expect("accept");
        pool.checkin_raw(addr, conn);
        pool.sweep(IdleSince::now());
        assert_eq!(held(&pool), (1, 1), "an open idle connection was swept");

        drop(accepted);
        // The reactor sees the close while this task sleeps: sweep until it has (or 5 s pass).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            pool.sweep(IdleSince::now());
            if held(&pool) == (0, 0) || std::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            held(&pool),
            (0, 0),
            "a connection the server closed was kept"
        );
    }
}
