//! Pooled upstream HTTP connections, keyed by endpoint and HTTP version.
//!
//! HTTP/1.1 connections are kept in a bounded idle list and returned when the previous response
//! body has been read to its end (by the body itself: no task per request); HTTP/2 connections are shared by all requests to the endpoint. A request that
//! a pooled connection could not even start (the server closed it while idle) is retried once on
//! a fresh connection: it never reached the server, so this is safe for every method.
//!
//! A new HTTP/2 connection carries no request until the endpoint's first bytes show it speaks
//! HTTP/2 ([`super::preface`]). One that answered the preface with HTTP/1.x, or closed on it, is
//! remembered for [`NOT_HTTP2_FOR`], so that `upstream protocol auto` speaks HTTP/1.1 to it
//! without asking again; after that HTTP/2 is tried again (the app may have been replaced).

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
use super::breaker::{Breaker, ConnSlot, Ready};
use super::idle_clock::IdleSince;
use super::preface::{Answer, Watched};
use super::raw::RawConn;
use crate::metrics::{Metrics, OverflowKind};
use crate::transport::Io;

/// Idle HTTP/1.1 connections kept per endpoint.
pub(super) const MAX_IDLE_PER_ENDPOINT: usize = 512;
/// Idle connections older than this are closed instead of reused.
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often [`Pool::sweep`] runs: expired and closed connections go, and so do endpoints with
/// nothing pooled (with interception, every original destination gets an entry).
const SWEEP_INTERVAL: Duration = Duration::from_secs(15);
/// How long an endpoint that did not speak HTTP/2 is remembered as such.
pub const NOT_HTTP2_FOR: Duration = Duration::from_secs(600);

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
    #[error("upstream {addr}: the cluster's circuit breaker is open ({})", kind.as_str())]
    Overflow {
        addr: SocketAddr,
        kind: OverflowKind,
    },
    #[error("upstream {addr} failed the request: {source}")]
    Request {
        addr: SocketAddr,
        source: hyper::Error,
    },
    /// The endpoint does not speak HTTP/2: it said so to this request's connection (`learned`),
    /// or had said so to the connection this request waited for. The request was not sent:
    /// here it is, to send again in HTTP/1.1.
    #[error("upstream {addr} does not speak HTTP/2: it {answer}")]
    NotHttp2 {
        addr: SocketAddr,
        answer: Answer,
        learned: bool,
        unsent: Option<Box<Request<UpBody>>>,
    },
}

impl UpstreamError {
    pub fn is_connect(&self) -> bool {
        matches!(self, UpstreamError::Connect { .. })
    }

    /// What went wrong without its details: the cause under which repeated warnings are
    /// counted (`telemetry::ratelimit`).
    pub fn cause(&self) -> (u8, Option<std::io::ErrorKind>) {
        match self {
            UpstreamError::Connect { source, .. } => (0, Some(source.kind())),
            UpstreamError::Handshake { .. } => (1, None),
            UpstreamError::Request { .. } => (2, None),
            UpstreamError::Overflow { .. } => (3, None),
            UpstreamError::NotHttp2 { .. } => (4, None),
        }
    }

    pub fn is_overflow(&self) -> bool {
        matches!(self, UpstreamError::Overflow { .. })
    }
}

/// A hyper HTTP/1.1 connection and the breaker its slot counts against (the slot itself lives in
/// the connection's task).
pub(super) struct H1Conn {
    pub sender: http1::SendRequest<UpBody>,
    pub breaker: Arc<Breaker>,
}

#[derive(Default)]
pub(super) struct Entry {
    pub(super) h1_idle: Vec<(H1Conn, IdleSince)>,
    /// Idle connections of the HTTP/1.1 fast path.
    pub(super) raw_idle: Vec<(RawConn, IdleSince)>,
    h2: Option<http2::SendRequest<UpBody>>,
    /// Held while an HTTP/2 connection is being set up, so that a burst of first requests
    /// shares one connection instead of opening one each.
    h2_connecting: Arc<tokio::sync::Mutex<()>>,
    /// When the endpoint last showed it does not speak HTTP/2, and how.
    not_http2: Option<(IdleSince, Answer)>,
}

impl Entry {
    /// How the endpoint showed, within [`NOT_HTTP2_FOR`] of `now`, that it does not speak HTTP/2.
    fn not_http2(&self, now: IdleSince) -> Option<Answer> {
        self.not_http2
            .filter(|(since, _)| since.age_at(now) < NOT_HTTP2_FOR)
            .map(|(_, answer)| answer)
    }
}

/// The connection pool shared by all listeners.
pub struct Pool {
    pub(super) entries: Mutex<HashMap<SocketAddr, Entry>>,
    pub(super) metrics: Arc<Metrics>,
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
    pub(super) fn sweep(&self, now: IdleSince) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        entries.retain(|_, entry| {
            entry
                .h1_idle
                .retain(|(c, since)| !c.sender.is_closed() && since.age_at(now) < IDLE_TIMEOUT);
            entry.raw_idle.retain_mut(|(conn, since)| {
                since.age_at(now) < IDLE_TIMEOUT && conn.is_idle_and_open()
            });
            if entry.h2.as_ref().is_some_and(|h2| h2.is_closed()) {
                entry.h2 = None;
            }
            if entry.not_http2(now).is_none() {
                entry.not_http2 = None;
            }
            // A strong count above one: a request is connecting and will store its connection.
            !entry.h1_idle.is_empty()
                || !entry.raw_idle.is_empty()
                || entry.h2.is_some()
                || entry.not_http2.is_some()
                || Arc::strong_count(&entry.h2_connecting) > 1
        });
    }

    /// Sends `req` to `addr` over a pooled or new connection of the given version; a new one
    /// within the caps of `breaker`, the cluster's.
    pub async fn send(
        self: &Arc<Self>,
        addr: SocketAddr,
        version: HttpVersion,
        connect_timeout: Duration,
        req: Request<UpBody>,
        breaker: &Arc<Breaker>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        match version {
            HttpVersion::Http1 => self.send_h1(addr, connect_timeout, req, breaker).await,
            // Boxed, like the connects below: this future is moved (into the request timeout)
            // for every request, so the rarer paths' state lives behind a pointer.
            HttpVersion::Http2 => Ok(Box::pin(self.send_h2(addr, connect_timeout, req, breaker))
                .await?
                .map(|b| UpstreamBody::new(b, None))),
        }
    }

    async fn send_h1(
        self: &Arc<Self>,
        addr: SocketAddr,
        timeout: Duration,
        mut req: Request<UpBody>,
        breaker: &Arc<Breaker>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let mut fresh = false;
        loop {
            let (mut conn, new) = self.h1_conn(addr, timeout, fresh, breaker).await?;
            fresh |= new;
            match conn.sender.try_send_request(req).await {
                Ok(resp) => {
                    let give_back = Return {
                        pool: Arc::clone(self),
                        addr,
                        conn,
                    };
                    return Ok(resp.map(|b| UpstreamBody::new(b, Some(give_back))));
                }
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

    /// The most recently returned idle connection that is still usable (unless `fresh`), else
    /// a new one within `breaker`'s caps; and whether it is new. A connection comes back when
    /// its response body ended, possibly before its task noticed: it is waited for to be ready.
    async fn h1_conn(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        fresh: bool,
        breaker: &Arc<Breaker>,
    ) -> Result<(H1Conn, bool), UpstreamError> {
        loop {
            let pooled = || (!fresh).then(|| self.pop_h1(addr)).flatten();
            // The common case (a pooled connection) without the breaker's future, which is
            // boxed as the connects are.
            let mut conn = match pooled() {
                Some(conn) => conn,
                None => match Box::pin(breaker.connection(pooled, || self.evict_idle(breaker)))
                    .await
                    .map_err(|kind| UpstreamError::Overflow { addr, kind })?
                {
                    Ready::Pooled(conn) => conn,
                    Ready::New(slot) => {
                        let conn = Box::pin(self.connect_h1(addr, timeout, slot)).await?;
                        return Ok((conn, true));
                    }
                },
            };
            if conn.sender.is_ready() || conn.sender.ready().await.is_ok() {
                return Ok((conn, false));
            }
        }
    }

    /// The most recently returned idle connection to `addr` not known to be closed or expired.
    fn pop_h1(&self, addr: SocketAddr) -> Option<H1Conn> {
        let mut entries = self.entries.lock().ok()?;
        let idle = &mut entries.get_mut(&addr)?.h1_idle;
        while let Some((conn, since)) = idle.pop() {
            if !conn.sender.is_closed() && since.age() < IDLE_TIMEOUT {
                return Some(conn);
            }
        }
        None
    }

    /// Takes back a connection whose response has been read to the end.
    pub(super) fn checkin_h1(&self, addr: SocketAddr, conn: H1Conn) {
        if conn.sender.is_closed() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            let entry = entries.entry(addr).or_default();
            if entry.h1_idle.len() < MAX_IDLE_PER_ENDPOINT {
                conn.breaker.returned();
                entry.h1_idle.push((conn, IdleSince::now()));
            }
        }
    }

    /// Closes one idle connection counted by `breaker`, to make room for a new one under its
    /// cap; whether there was one. A fast-path connection's slot is free once it is dropped, a
    /// hyper connection's once its task sees the sender gone.
    pub(super) fn evict_idle(&self, breaker: &Breaker) -> bool {
        let evicted = {
            let Ok(mut entries) = self.entries.lock() else {
                return false;
            };
            entries.values_mut().find_map(|e| {
                if let Some(i) = e.raw_idle.iter().position(|(c, _)| c.slot.is(breaker)) {
                    return Some((Some(e.raw_idle.swap_remove(i).0), None));
                }
                let i = e
                    .h1_idle
                    .iter()
                    .position(|(c, _)| std::ptr::eq(&*c.breaker, breaker))?;
                Some((None, Some(e.h1_idle.swap_remove(i).0)))
            })
        };
        // Dropped here, outside the lock: their slots wake pending requests.
        evicted.is_some()
    }

    pub(super) async fn connect_h1(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        slot: ConnSlot,
    ) -> Result<H1Conn, UpstreamError> {
        let io = self.connect_tcp(addr, timeout).await?;
        let (sender, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|source| UpstreamError::Handshake { addr, source })?;
        let metrics = Arc::clone(&self.metrics);
        let breaker = Arc::clone(slot.breaker());
        tokio::spawn(async move {
            if let Err(error) = conn.with_upgrades().await {
                tracing::debug!(%addr, %error, "upstream HTTP/1.1 connection ended with an error");
            }
            metrics.upstream_active.dec();
            drop(slot);
        });
        Ok(H1Conn { sender, breaker })
    }

    /// Whether `addr` showed, within [`NOT_HTTP2_FOR`], that it does not speak HTTP/2.
    pub fn speaks_only_http1(&self, addr: SocketAddr) -> bool {
        self.entries.lock().is_ok_and(|entries| {
            entries
                .get(&addr)
                .is_some_and(|e| e.not_http2(IdleSince::now()).is_some())
        })
    }

    /// Remembers that `addr` does not speak HTTP/2; true unless it was known already.
    fn learn_not_http2(&self, addr: SocketAddr, answer: Answer) -> bool {
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        let now = IdleSince::now();
        let entry = entries.entry(addr).or_default();
        let known = entry.not_http2(now).is_some();
        entry.not_http2 = Some((now, answer));
        !known
    }

    async fn send_h2(
        self: &Arc<Self>,
        addr: SocketAddr,
        timeout: Duration,
        mut req: Request<UpBody>,
        breaker: &Arc<Breaker>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let mut fresh = false;
        loop {
            let shared = (!fresh).then(|| self.checkout_h2(addr)).flatten();
            let mut sender = match shared {
                Some(s) => s,
                None => {
                    match Box::pin(self.connect_h2_once(addr, timeout, &mut fresh, breaker)).await {
                        Ok(s) => s,
                        Err(UpstreamError::NotHttp2 {
                            addr,
                            answer,
                            learned,
                            unsent: None,
                        }) => {
                            return Err(UpstreamError::NotHttp2 {
                                addr,
                                answer,
                                learned,
                                unsent: Some(Box::new(req)),
                            });
                        }
                        Err(e) => return Err(e),
                    }
                }
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
    /// shares that connection, or that connection's finding that the endpoint does not speak
    /// HTTP/2. `fresh` tells whether the returned sender is a new connection.
    async fn connect_h2_once(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        fresh: &mut bool,
        breaker: &Arc<Breaker>,
    ) -> Result<http2::SendRequest<UpBody>, UpstreamError> {
        let lock = match self.entries.lock() {
            Ok(mut entries) => Arc::clone(&entries.entry(addr).or_default().h2_connecting),
            Err(_) => Arc::default(),
        };
        let _connecting = match lock.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                let guard = lock.lock().await;
                if let Some(answer) = self.not_http2(addr) {
                    return Err(UpstreamError::NotHttp2 {
                        addr,
                        answer,
                        learned: false,
                        unsent: None,
                    });
                }
                guard
            }
        };
        if !*fresh && let Some(sender) = self.checkout_h2(addr) {
            return Ok(sender);
        }
        *fresh = true;
        let ready = breaker
            .connection(
                || None::<std::convert::Infallible>,
                || self.evict_idle(breaker),
            )
            .await
            .map_err(|kind| UpstreamError::Overflow { addr, kind })?;
        let slot = match ready {
            Ready::New(slot) => slot,
            Ready::Pooled(never) => match never {},
        };
        self.connect_h2(addr, timeout, slot).await
    }

    fn not_http2(&self, addr: SocketAddr) -> Option<Answer> {
        let entries = self.entries.lock().ok()?;
        entries.get(&addr)?.not_http2(IdleSince::now())
    }

    pub(super) async fn connect_h2(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        slot: ConnSlot,
    ) -> Result<http2::SendRequest<UpBody>, UpstreamError> {
        let io = self.connect_tcp(addr, timeout).await?;
        let (io, answer) = Watched::new(io.into_inner());
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .handshake(TokioIo::new(io))
            .await
            .map_err(|source| UpstreamError::Handshake { addr, source })?;
        let metrics = Arc::clone(&self.metrics);
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%addr, %error, "upstream HTTP/2 connection ended with an error");
            }
            metrics.upstream_active.dec();
            drop(slot);
        });
        // No request goes on the connection before the endpoint's first bytes are in. The task
        // above ends without a word (the sender dropped) only if the connection failed first.
        let answer = match tokio::time::timeout(timeout, answer).await {
            Ok(answer) => answer.unwrap_or(Answer::Closed),
            Err(_) => {
                return Err(UpstreamError::Connect {
                    addr,
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer to the HTTP/2 preface within {timeout:?}"),
                    ),
                });
            }
        };
        if answer != Answer::Http2 {
            return Err(UpstreamError::NotHttp2 {
                addr,
                answer,
                learned: self.learn_not_http2(addr, answer),
                unsent: None,
            });
        }
        if let Ok(mut entries) = self.entries.lock() {
            entries.entry(addr).or_default().h2 = Some(sender.clone());
        }
        Ok(sender)
    }

    pub(super) async fn connect_tcp(
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
