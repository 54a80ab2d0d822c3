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
pub(crate) mod head;
pub(super) mod relay;
#[cfg(test)]
mod tests;
pub(super) mod upstream;

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use crate::transport::Io;
use bytes::Bytes;
use http::StatusCode;
use sockmesh_policy::HttpRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use self::head::{FieldView, ParsedRequest};
use self::relay::Exchange;
use super::respond::{DENIED_BODY, TEXT_PLAIN, failure_text};
use crate::conn::ConnCtx;
use crate::metrics::{Protocol, VerdictLabel};
use crate::task::{Deadline, OnWake};
use crate::telemetry::access_log;
use crate::transport::PrefixedIo;

/// What became of the connection.
pub enum Served {
    Done,
    /// Serve the rest with hyper: these bytes were read and not consumed.
    HandOff(PrefixedIo<Io>),
}

/// Serves requests until the client closes, a request needs hyper, or shutdown.
pub async fn serve(io: PrefixedIo<Io>, ctx: &Arc<ConnCtx>) -> Served {
    let (prefix, stream) = io.into_parts();
    let mut conn = Downstream {
        stream,
        buf: Vec::with_capacity(4096),
    };
    conn.buf.extend_from_slice(&prefix);
    let mut out = Vec::with_capacity(1024);
    let mut resp_out = Vec::with_capacity(1024);
    let mut shutdown = ctx.shutdown.clone();
    // One wait for the shutdown signal for the connection's life, polled only once it fires
    // (see `crate::task`): not a new `watch` wait, locking its waiter list, per request.
    let mut stopping = std::pin::pin!(OnWake::new(crate::conn::signalled(&mut shutdown)));
    let limits = &ctx.shared.limits;
    // When the head being read must be complete: set at its first byte.
    let mut head_deadline: Option<tokio::time::Instant> = None;
    // The connection's one timer for its idle, header and request timeouts (`crate::task`).
    let mut timer = Deadline::new();
    // When the connection last went idle: its start, then the end of each response (the clock
    // reading the access log takes anyway).
    let mut idle_since = tokio::time::Instant::now();
    loop {
        let mut storage = head::storage();
        let req = match head::parse_request(&conn.buf, &mut storage) {
            // A head over the limit that came in one read: hyper answers it with 431, as it does
            // a head that arrives in pieces.
            ParsedRequest::Fast(req) if req.len > limits.max_header_bytes => {
                return Served::HandOff(conn.hand_off());
            }
            ParsedRequest::Fast(req) => req,
            ParsedRequest::Slow => return Served::HandOff(conn.hand_off()),
            ParsedRequest::Partial if conn.buf.len() > limits.max_header_bytes => {
                return Served::HandOff(conn.hand_off());
            }
            ParsedRequest::Partial => {
                // Idle timeout until a request's first byte, then the header timeout for the
                // whole head.
                let deadline = if conn.buf.is_empty() {
                    idle_since + limits.idle_timeout
                } else {
                    *head_deadline.get_or_insert_with(|| {
                        tokio::time::Instant::now() + limits.header_read_timeout
                    })
                };
                let read = tokio::select! {
                    r = timer.within(deadline, conn.read_more()) => r,
                    _ = &mut stopping, if conn.buf.is_empty() => {
                        return Served::Done;
                    }
                };
                match read {
                    Ok(Ok(true)) => continue,
                    // Closed, failed or timed out: nothing to answer.
                    _ => return Served::Done,
                }
            }
        };
        head_deadline = None;
        let start = Instant::now();
        let view = FieldView(req.headers);
        // gRPC answers and the 413 of an oversized body are made by the hyper path.
        let grpc = req.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("content-type")
                && super::grpc::is_grpc_content_type(h.value)
        });
        if req.body > limits.max_request_body_bytes || grpc {
            return Served::HandOff(conn.hand_off());
        }
        let check = |endpoint| {
            ctx.shared.policy.load().check_http(
                &ctx.meta(endpoint),
                &HttpRequest {
                    method: req.method,
                    path: req.target,
                    host: Some(req.host),
                    headers: &view,
                    grpc: None,
                },
            )
        };
        // Checked against the next endpoint without taking the round-robin turn: a hand-off
        // below leaves the turn to hyper's own pick.
        let Some(next) = ctx.target.peek() else {
            return Served::HandOff(conn.hand_off());
        };
        let mut verdict = check(next);
        if !verdict.header_actions.is_empty() {
            // Header rewrites on a mismatch are hyper's job (header maps).
            return Served::HandOff(conn.hand_off());
        }
        let endpoint = ctx.target.pick().unwrap_or(next);
        if endpoint != next {
            // Another connection took that turn meanwhile.
            verdict = check(endpoint);
            if !verdict.header_actions.is_empty() {
                return Served::HandOff(conn.hand_off());
            }
        }
        let asked_close = req.close;
        let span = Span::of(&conn.buf, &req);
        out.clear();
        if verdict.allowed {
            head::write_request(&req, &mut out);
        }
        // The whole message (head and body) must be in `buf` before it is relayed or skipped.
        if !conn.fill(span.message.end, limits.idle_timeout).await {
            return Served::Done;
        }
        if verdict.allowed {
            out.extend_from_slice(&conn.buf[span.message.start + span.head_len..span.message.end]);
        }

        let (status, label, upstream, keep) = if verdict.allowed {
            let exchange = Exchange {
                ctx,
                endpoint,
                request: &out,
                head_request: span.is_head(&conn.buf),
                idempotent: span.is_idempotent(&conn.buf),
                asked_close,
                started: start,
            };
            // On shutdown, an exchange (a long stream, say) gets the drain timeout, as on hyper.
            let ran = tokio::select! {
                r = exchange.run(&mut conn.stream, &mut resp_out, &mut timer) => r,
                _ = async {
                    (&mut stopping).await;
                    tokio::time::sleep(limits.drain_timeout).await;
                } => return Served::Done,
            };
            let close = closing(ctx, asked_close);
            match ran {
                Ok(done) => (done.status, VerdictLabel::Allow, Some(endpoint), done.keep),
                Err(status) => {
                    let kept = simple(
                        &mut conn,
                        &span,
                        status,
                        failure_text(status),
                        close,
                        limits.idle_timeout,
                    )
                    .await;
                    (
                        status.as_u16(),
                        VerdictLabel::Error,
                        Some(endpoint),
                        kept && !close,
                    )
                }
            }
        } else {
            let close = closing(ctx, asked_close);
            let kept = simple(
                &mut conn,
                &span,
                StatusCode::FORBIDDEN,
                DENIED_BODY,
                close,
                limits.idle_timeout,
            )
            .await;
            (403, VerdictLabel::Deny, None, kept && !close)
        };
        let finished = Instant::now();
        idle_since = finished.into();
        let text = |r: &Range<usize>| Span::text(&conn.buf, r);
        access_log::record(
            &ctx.shared.metrics,
            label,
            &access_log::Entry {
                listener: &ctx.listener.name,
                protocol: Protocol::Http1,
                client: ctx.client,
                method: text(&span.method),
                path: text(&span.target),
                authority: text(&span.host),
                allowed: verdict.allowed,
                rule: verdict.rule.as_str(),
                upstream,
                status: u32::from(status),
                grpc_status: None,
                bytes_in: 0,
                bytes_out: 0,
                duration: finished - start,
                note: "",
            },
        );
        conn.buf.drain(..span.message.end);
        if conn.buf.is_empty() {
            // A large body's buffer is not kept by an idle connection.
            conn.buf.shrink_to(4096);
        }
        if !keep {
            let _ = conn.stream.shutdown().await;
            return Served::Done;
        }
    }
}

/// Whether the client connection closes after the response now being written: the client asked,
/// or the proxy began draining (maybe while the request was upstream).
fn closing(ctx: &ConnCtx, asked: bool) -> bool {
    asked || *ctx.shutdown.borrow()
}

/// The client connection and its read buffer (which may hold pipelined requests).
struct Downstream {
    stream: Io,
    buf: Vec<u8>,
}

impl Downstream {
    /// Reads more into `buf`; false on EOF.
    async fn read_more(&mut self) -> std::io::Result<bool> {
        self.buf.reserve(4096);
        Ok(self.stream.read_buf(&mut self.buf).await? > 0)
    }

    /// Reads until `buf` holds `len` bytes; false if the client closed, failed or stalled.
    async fn fill(&mut self, len: usize, stall: std::time::Duration) -> bool {
        while self.buf.len() < len {
            match tokio::time::timeout(stall, self.read_more()).await {
                Ok(Ok(true)) => {}
                _ => return false,
            }
        }
        true
    }

    fn hand_off(self) -> PrefixedIo<Io> {
        PrefixedIo::new(Bytes::from(self.buf), self.stream)
    }
}

/// Where the parts of a request lie in the read buffer, kept past the parse (which borrows the
/// buffer) for the access log.
struct Span {
    method: Range<usize>,
    target: Range<usize>,
    host: Range<usize>,
    head_len: usize,
    /// Head and body.
    message: Range<usize>,
}

impl Span {
    fn of(buf: &[u8], req: &head::Request<'_>) -> Span {
        let at = |s: &str| {
            let start = (s.as_ptr() as usize).saturating_sub(buf.as_ptr() as usize);
            start..start + s.len()
        };
        let body = usize::try_from(req.body).unwrap_or(usize::MAX);
        Span {
            method: at(req.method),
            target: at(req.target),
            host: at(req.host),
            head_len: req.len,
            message: 0..req.len.saturating_add(body),
        }
    }

    fn text<'b>(buf: &'b [u8], r: &Range<usize>) -> &'b str {
        buf.get(r.clone())
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    fn is_head(&self, buf: &[u8]) -> bool {
        Span::text(buf, &self.method) == "HEAD"
    }

    /// Safe to send again on a fresh connection if a pooled one failed before any response.
    fn is_idempotent(&self, buf: &[u8]) -> bool {
        matches!(Span::text(buf, &self.method), "GET" | "HEAD" | "OPTIONS")
            && self.message.len() == self.head_len
    }
}

/// Answers with a short plain-text response made by the proxy (its head alone for `HEAD`);
/// false if the write failed or stalled.
async fn simple(
    conn: &mut Downstream,
    span: &Span,
    status: StatusCode,
    body: &str,
    close: bool,
    stall: std::time::Duration,
) -> bool {
    let head_only = span.is_head(&conn.buf);
    let response = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {TEXT_PLAIN}\r\ncontent-length: {}\r\n{}\r\n{}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        if close { "connection: close\r\n" } else { "" },
        if head_only { "" } else { body },
    );
    relay::write(&mut conn.stream, response.as_bytes(), stall)
        .await
        .is_ok()
}
