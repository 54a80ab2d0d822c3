//! The HTTP/1.1 fast path: the common request (HTTP/1.1, origin-form, a known-length body of at
//! most 64 KiB, no upgrade, no `Expect`) is parsed in place, checked against policy, written to a
//! pooled upstream connection and its response relayed, all in the connection's own task and
//! without building `http::Request`s.
//!
//! Why: with hyper on both sides each request costs two header maps, a channel hop and a task
//! wake-up to the upstream connection; the bench (`bench/http/run.sh`) put Sockmesh's user-space
//! CPU per request at twice nginx's. Anything else (and anything malformed) is served by hyper
//! from the same bytes: the fast path hands the connection over, before consuming it, at a
//! request boundary. Denials, metrics, access log and limits are the same on both paths.

pub(crate) mod chunked;
mod downstream;
pub(crate) mod head;
pub(super) mod relay;
mod span;
#[cfg(test)]
mod tests;
pub(super) mod upstream;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use sockmesh_policy::{HttpRequest, Verdict};
use tokio::io::AsyncWriteExt;

use self::downstream::{Downstream, Filled};
use self::head::{FieldView, ParsedRequest};
use self::relay::Exchange;
use self::span::Span;
use crate::conn::{self, ConnCtx, signalled};
use crate::failure::Failure;
use crate::http::sanitize::Reading;
use crate::http::service;
use crate::metrics::{Protocol, VerdictLabel};
use crate::task::{Deadline, OnWake};
use crate::telemetry::access_log;
use crate::transport::{Io, PrefixedIo};

/// What became of the connection.
pub enum Served {
    Done,
    /// Serve the rest with hyper: these bytes were read and not consumed.
    HandOff(PrefixedIo<Io>),
}

/// Why the fast path stops serving a connection.
enum Exit {
    /// Closed, failed, timed out, or drained: nothing more to answer.
    Done,
    /// Hyper serves the rest, from the request at the start of the buffer.
    HandOff,
}

/// Serves requests until the client closes, a request needs hyper, or shutdown. Each request
/// goes through four phases: read its head and admit it ([`Conn::next_request`], [`admit`]),
/// answer it ([`Conn::answer`]), log it ([`Conn::log`]), and make ready for the next
/// ([`Conn::finish`]).
pub async fn serve(io: PrefixedIo<Io>, ctx: &Arc<ConnCtx>) -> Served {
    let mut conn = Conn::new(io, ctx);
    let mut shutdown = ctx.shutdown.clone();
    // One wait for the shutdown signal for the connection's life, polled only once it fires
    // (see `crate::task`): not a new `watch` wait, locking its waiter list, per request.
    let mut stopping = std::pin::pin!(OnWake::new(signalled(&mut shutdown)));
    loop {
        let admitted = match conn.next_request(&mut stopping).await {
            Ok(a) => a,
            Err(exit) => return conn.exit(exit),
        };
        let answered = match conn.answer(&admitted, &mut stopping).await {
            Ok(a) => a,
            Err(exit) => return conn.exit(exit),
        };
        conn.log(&admitted, &answered);
        if !conn.finish(&admitted, answered.keep).await {
            return Served::Done;
        }
    }
}

/// A request read and checked: where it lies in the buffer and what policy said.
struct Admitted {
    start: Instant,
    span: Span,
    verdict: Verdict,
    endpoint: SocketAddr,
    /// The client asked to close after this exchange.
    asked_close: bool,
}

/// How a request was answered.
struct Answered {
    status: u16,
    label: VerdictLabel,
    upstream: Option<SocketAddr>,
    /// The client connection can carry another request.
    keep: bool,
}

/// One client connection on the fast path.
struct Conn<'c> {
    ctx: &'c Arc<ConnCtx>,
    down: Downstream,
    /// The request as it goes upstream.
    out: Vec<u8>,
    /// Scratch space for the client-bound response head.
    resp_out: Vec<u8>,
    /// The connection's one timer for its idle, header and request timeouts (`crate::task`).
    timer: Deadline,
    /// When the head being read must be complete: set at its first byte.
    head_deadline: Option<tokio::time::Instant>,
    /// When the connection last went idle: its start, then the end of each response (the
    /// clock reading the access log takes anyway).
    idle_since: tokio::time::Instant,
    /// The shutdown signal came (the drain began).
    stopped: bool,
    /// Draining and idle: until when a request on its way is still read ([`conn::drain_grace`]).
    grace_end: Option<tokio::time::Instant>,
}

impl<'c> Conn<'c> {
    fn new(io: PrefixedIo<Io>, ctx: &'c Arc<ConnCtx>) -> Conn<'c> {
        Conn {
            ctx,
            down: Downstream::new(io),
            out: Vec::with_capacity(1024),
            resp_out: Vec::with_capacity(1024),
            timer: Deadline::new(),
            head_deadline: None,
            idle_since: tokio::time::Instant::now(),
            stopped: false,
            grace_end: None,
        }
    }

    fn exit(self, exit: Exit) -> Served {
        match exit {
            Exit::Done => Served::Done,
            Exit::HandOff => Served::HandOff(self.down.hand_off()),
        }
    }

    /// Reads until a whole request head is in the buffer, then admits it.
    async fn next_request<S>(&mut self, stopping: &mut Pin<&mut S>) -> Result<Admitted, Exit>
    where
        S: Future<Output = ()>,
    {
        let limits = &self.ctx.shared.limits;
        let reading = Reading::of(self.ctx);
        loop {
            let mut storage = head::storage();
            match head::parse_request(&self.down.buf, &mut storage, &reading) {
                // A head over the limit that came in one read: hyper answers it with 431, as it
                // does a head that arrives in pieces.
                ParsedRequest::Fast(req) if req.len > limits.max_header_bytes => {
                    return Err(Exit::HandOff);
                }
                ParsedRequest::Fast(req) => {
                    self.head_deadline = None;
                    return admit(self.ctx, &self.down.buf, &req, &mut self.out);
                }
                ParsedRequest::Slow => return Err(Exit::HandOff),
                ParsedRequest::Partial if self.down.buf.len() > limits.max_header_bytes => {
                    return Err(Exit::HandOff);
                }
                ParsedRequest::Partial => self.read_head(stopping).await?,
            }
        }
    }

    /// Reads more of a head: within the idle timeout until a request's first byte, then
    /// within the header timeout for the whole head. Once the drain began, an idle connection
    /// still takes a request for the drain grace (it is answered with `Connection: close`), then
    /// closes: closing at once reset requests clients had already sent, and a `select!` between
    /// a waiting request and the signal picked either at random.
    async fn read_head<S>(&mut self, stopping: &mut Pin<&mut S>) -> Result<(), Exit>
    where
        S: Future<Output = ()>,
    {
        let limits = &self.ctx.shared.limits;
        let idle = self.down.buf.is_empty();
        if idle && self.stopped && self.grace_end.is_none() {
            self.grace_end = Some(tokio::time::Instant::now() + conn::drain_grace(limits));
        }
        let deadline = if idle {
            let idle_end = self.idle_since + limits.idle_timeout;
            self.grace_end.map_or(idle_end, |grace| grace.min(idle_end))
        } else {
            *self
                .head_deadline
                .get_or_insert_with(|| tokio::time::Instant::now() + limits.header_read_timeout)
        };
        let read = tokio::select! {
            r = self.timer.within(deadline, self.down.read_more()) => r,
            _ = stopping.as_mut(), if idle && !self.stopped => {
                // Read on, now within the grace.
                self.stopped = true;
                return Ok(());
            }
        };
        match read {
            Ok(Ok(true)) => Ok(()),
            Err(_) if idle && self.grace_end.is_some() => self.last_request().await,
            // Closed, failed or timed out: nothing to answer.
            _ => Err(Exit::Done),
        }
    }

    /// The drain grace is over for an idle connection: it closes, unless a request's bytes came
    /// just now (the reactor may not have seen them yet); that request is still read.
    async fn last_request(&mut self) -> Result<(), Exit> {
        if !self.down.stream.has_input() {
            return Err(Exit::Done);
        }
        let wait = self.ctx.shared.limits.header_read_timeout;
        match tokio::time::timeout(wait, self.down.read_more()).await {
            Ok(Ok(true)) => Ok(()),
            _ => Err(Exit::Done),
        }
    }

    /// Answers an admitted request: relayed from the upstream, or made by the proxy (a denial,
    /// a failure).
    async fn answer<S>(
        &mut self,
        adm: &Admitted,
        stopping: &mut Pin<&mut S>,
    ) -> Result<Answered, Exit>
    where
        S: Future<Output = ()>,
    {
        let limits = &self.ctx.shared.limits;
        // The whole message (head and body) must be in `buf` before it is relayed or skipped,
        // and the request timeout runs while it comes: a body that trickles in is cut there.
        let end = adm.span.message.end;
        if self.down.buf.len() < end {
            let deadline = (adm.start + limits.request_timeout).into();
            let stall = limits.idle_timeout;
            match self.down.fill(end, &mut self.timer, deadline, stall).await {
                Filled::Whole => {}
                Filled::Closed => return Err(Exit::Done),
                // The rest of the body cannot be skipped: the connection closes after the answer.
                Filled::TimedOut => return Ok(self.cut_off(adm).await),
            }
        }
        if !adm.verdict.allowed {
            return Ok(self
                .refuse(adm, Failure::Denied, VerdictLabel::Deny, None)
                .await);
        }
        self.out.extend_from_slice(&self.down.buf[adm.span.body()]);
        let exchange = Exchange {
            ctx: self.ctx,
            endpoint: adm.endpoint,
            request: &self.out,
            head_request: adm.span.is_head(&self.down.buf),
            idempotent: adm.span.is_idempotent(&self.down.buf),
            asked_close: adm.asked_close,
            started: adm.start,
        };
        // On shutdown, an exchange (a long stream, say) gets the drain timeout, as on hyper.
        let mut stopped = false;
        let ran = tokio::select! {
            r = exchange.run(&mut self.down.stream, &mut self.resp_out, &mut self.timer) => r,
            _ = async {
                stopping.as_mut().await;
                stopped = true;
                tokio::time::sleep(limits.drain_timeout).await;
            } => return Err(Exit::Done),
        };
        // Its response may have gone out without `Connection: close`: the connection drains
        // once idle.
        self.stopped |= stopped;
        Ok(match ran {
            Ok(done) => Answered {
                status: done.status,
                label: VerdictLabel::Allow,
                upstream: Some(adm.endpoint),
                keep: done.keep,
            },
            Err(failure) => {
                let upstream = Some(adm.endpoint);
                self.refuse(adm, failure, VerdictLabel::Error, upstream)
                    .await
            }
        })
    }

    /// Answers with a response the proxy makes for `failure`.
    async fn refuse(
        &mut self,
        adm: &Admitted,
        failure: Failure,
        label: VerdictLabel,
        upstream: Option<SocketAddr>,
    ) -> Answered {
        let close = closing(self.ctx, adm.asked_close);
        let stall = self.ctx.shared.limits.idle_timeout;
        let kept = self.down.answer(&adm.span, failure, close, stall).await;
        Answered {
            status: failure.http_status().as_u16(),
            label,
            upstream,
            keep: kept && !close,
        }
    }

    /// Answers a request whose body did not come in time, and closes the connection.
    async fn cut_off(&mut self, adm: &Admitted) -> Answered {
        let failure = Failure::ClientTimeout;
        let stall = self.ctx.shared.limits.idle_timeout;
        self.down.answer(&adm.span, failure, true, stall).await;
        Answered {
            status: failure.http_status().as_u16(),
            label: VerdictLabel::Error,
            upstream: None,
            keep: false,
        }
    }

    /// The request's metrics and access-log line.
    fn log(&mut self, adm: &Admitted, ans: &Answered) {
        let finished = Instant::now();
        self.idle_since = finished.into();
        let text = |r| Span::text(&self.down.buf, r);
        access_log::record(
            &self.ctx.shared.metrics,
            ans.label,
            &access_log::Entry {
                listener: &self.ctx.listener.name,
                protocol: Protocol::Http1,
                client: self.ctx.client,
                method: text(&adm.span.method),
                path: text(&adm.span.target),
                authority: text(&adm.span.host),
                allowed: adm.verdict.allowed,
                rule: adm.verdict.rule.as_str(),
                upstream: ans.upstream,
                status: u32::from(ans.status),
                grpc_status: None,
                bytes_in: 0,
                bytes_out: 0,
                duration: finished - adm.start,
                note: "",
            },
        );
    }

    /// Drops the request from the buffer; closes the connection unless `keep`. Whether another
    /// request may follow.
    async fn finish(&mut self, adm: &Admitted, keep: bool) -> bool {
        // A request cut off before its body was whole leaves less than its length.
        let end = adm.span.message.end.min(self.down.buf.len());
        self.down.buf.drain(..end);
        if self.down.buf.is_empty() {
            // A large body's buffer is not kept by an idle connection.
            self.down.buf.shrink_to(4096);
        }
        if !keep {
            let _ = self.down.stream.shutdown().await;
        }
        keep
    }
}

/// Admits a parsed request: whether the fast path can serve it, and policy's verdict for the
/// endpoint its round-robin turn gives. The allowed request's head, as it goes upstream, is
/// written to `out`.
fn admit(
    ctx: &ConnCtx,
    buf: &[u8],
    req: &head::Request<'_>,
    out: &mut Vec<u8>,
) -> Result<Admitted, Exit> {
    let start = Instant::now();
    let limits = &ctx.shared.limits;
    // gRPC answers and the 413 of an oversized body are made by the hyper path.
    let grpc = req.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("content-type") && super::grpc::is_grpc_content_type(h.value)
    });
    if req.body > limits.max_request_body_bytes || grpc {
        return Err(Exit::HandOff);
    }
    let view = FieldView(req.headers);
    let request = HttpRequest {
        method: req.method,
        path: req.target,
        host: Some(req.host),
        headers: &view,
        grpc: None,
    };
    // Checked against the next endpoint without taking the round-robin turn: a hand-off below
    // leaves the turn to hyper's own pick. Header rewrites on a mismatch are hyper's job
    // (header maps).
    let next = ctx.target.peek().ok_or(Exit::HandOff)?;
    let mut verdict = service::check(ctx, next, &request);
    if !verdict.header_actions.is_empty() {
        return Err(Exit::HandOff);
    }
    let endpoint = ctx.target.pick().unwrap_or(next);
    if endpoint != next {
        // Another connection took that turn meanwhile.
        verdict = service::check(ctx, endpoint, &request);
        if !verdict.header_actions.is_empty() {
            return Err(Exit::HandOff);
        }
    }
    out.clear();
    if verdict.allowed {
        head::write_request(req, out);
    }
    Ok(Admitted {
        start,
        span: Span::of(buf, req),
        verdict,
        endpoint,
        asked_close: req.close,
    })
}

/// Whether the client connection closes after the response now being written: the client asked,
/// or the proxy began draining (maybe while the request was upstream).
fn closing(ctx: &ConnCtx, asked: bool) -> bool {
    asked || *ctx.shutdown.borrow()
}
