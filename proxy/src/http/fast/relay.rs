//! One request and its response on the fast path: the request goes out on a pooled upstream
//! connection, the response head comes back rewritten, and the body is relayed as it is framed
//! (length, chunked, or until the upstream closes).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::chunked::{Chunked, Scan};
use super::head::{self, Framing, ParsedResponse};
use crate::listener::ConnCtx;
use crate::upstream::RawConn;

/// Bytes read from the upstream at a time.
const READ: usize = 16 * 1024;
/// Largest response head read: hyper's client buffer limit (8 KiB + 100 fields of 4 KiB).
const MAX_RESPONSE_HEAD: usize = 8192 + 4096 * 100;

pub struct Exchange<'a> {
    pub ctx: &'a ConnCtx,
    pub endpoint: SocketAddr,
    /// The request as it goes upstream: head and body.
    pub request: &'a [u8],
    pub head_request: bool,
    /// May be sent again on a fresh connection when a pooled one fails before any response.
    pub idempotent: bool,
    /// The client asked to close after this exchange.
    pub asked_close: bool,
}

/// A response relayed to the client (in full, or cut off after its head was sent).
pub struct Done {
    pub status: u16,
    /// The client connection can carry another request.
    pub keep: bool,
}

/// Why no response head came back.
pub enum Failure {
    /// The connection failed before a byte of response: safe to retry if idempotent.
    Early,
    Bad,
}

impl Exchange<'_> {
    /// Runs the exchange; `Err` is the status to answer with when no response head came back.
    /// `out` is scratch space for the client-bound head.
    pub async fn run(&self, client: &mut TcpStream, out: &mut Vec<u8>) -> Result<Done, StatusCode> {
        let limits = &self.ctx.shared.limits;
        let sent = tokio::time::timeout(limits.request_timeout, self.send(client, out)).await;
        let (mut up, resp) = sent.map_err(|_| StatusCode::GATEWAY_TIMEOUT)??;
        let stall = limits.idle_timeout;
        let status = resp.status;
        let relayed = relay_body(&mut up, client, out, resp.framing, resp.len, stall).await;
        let (complete, extra) = match relayed {
            Ok(r) => r,
            Err(error) => {
                tracing::debug!(endpoint = %self.endpoint, %error, "response relay cut off");
                return Ok(Done {
                    status,
                    keep: false,
                });
            }
        };
        if complete && !extra && !resp.upstream_close {
            self.ctx.shared.pool.checkin_raw(self.endpoint, up);
        }
        Ok(Done {
            status,
            keep: complete && !resp.close_client && resp.framing != Framing::UntilClose,
        })
    }

    /// Sends the request and reads the final response head (relaying any 1xx heads), retrying
    /// once on a fresh connection when a pooled one turns out to be closed.
    async fn send(
        &self,
        client: &mut TcpStream,
        out: &mut Vec<u8>,
    ) -> Result<(RawConn, head::Response), StatusCode> {
        let pool = &self.ctx.shared.pool;
        let timeout = self.ctx.target.connect_timeout();
        let mut fresh = false;
        loop {
            let (mut up, pooled) = pool
                .checkout_raw(self.endpoint, timeout, fresh)
                .await
                .map_err(|error| {
                    tracing::warn!(endpoint = %self.endpoint, %error, "upstream request failed");
                    StatusCode::SERVICE_UNAVAILABLE
                })?;
            match self.head(&mut up, client, out).await {
                Ok(resp) => return Ok((up, resp)),
                Err(Failure::Early) if pooled && self.idempotent && !fresh => fresh = true,
                Err(_) => return Err(StatusCode::BAD_GATEWAY),
            }
        }
    }

    async fn head(
        &self,
        up: &mut RawConn,
        client: &mut TcpStream,
        out: &mut Vec<u8>,
    ) -> Result<head::Response, Failure> {
        if up.stream.write_all(self.request).await.is_err() {
            return Err(Failure::Early);
        }
        let max = max_response_head(self.ctx);
        let close_client = super::closing(self.ctx, self.asked_close);
        let mut reading = HeadReader::new(up);
        loop {
            let resp = reading
                .next(max, |buf| {
                    out.clear();
                    head::parse_response(buf, self.head_request, close_client, out)
                })
                .await?;
            if resp.status >= 200 {
                return Ok(resp);
            }
            // 1xx (103 Early Hints, ...): passed on, then the next head.
            if client.write_all(out).await.is_err() {
                return Err(Failure::Bad);
            }
            reading.up.buf.drain(..resp.len);
        }
    }
}

/// The largest response head read from an upstream.
pub fn max_response_head(ctx: &ConnCtx) -> usize {
    ctx.shared.limits.max_header_bytes.max(MAX_RESPONSE_HEAD)
}

/// Reads response heads from an upstream connection after a request was written on it.
pub struct HeadReader<'a> {
    pub up: &'a mut RawConn,
    /// A byte of response came: a failure now is no longer safe to retry.
    any: bool,
}

impl<'a> HeadReader<'a> {
    pub fn new(up: &'a mut RawConn) -> HeadReader<'a> {
        up.buf.clear();
        HeadReader { up, any: false }
    }

    /// The next head at the start of the read buffer (a 1xx one included: the caller drains it
    /// and asks again), parsed by `parse`; reads until it is complete or over `max` bytes.
    pub async fn next(
        &mut self,
        max: usize,
        mut parse: impl FnMut(&[u8]) -> ParsedResponse,
    ) -> Result<head::Response, Failure> {
        loop {
            if !self.up.buf.is_empty() {
                match parse(&self.up.buf) {
                    ParsedResponse::Partial if self.up.buf.len() > max => return Err(Failure::Bad),
                    ParsedResponse::Partial => {}
                    ParsedResponse::Invalid(reason) => {
                        tracing::debug!(reason, "invalid upstream response");
                        return Err(Failure::Bad);
                    }
                    ParsedResponse::Done(resp) => return Ok(resp),
                }
            }
            self.up.buf.reserve(READ);
            match self.up.stream.read_buf(&mut self.up.buf).await {
                Ok(0) | Err(_) if !self.any => return Err(Failure::Early),
                Ok(0) | Err(_) => return Err(Failure::Bad),
                Ok(_) => self.any = true,
            }
        }
    }
}

/// Writes the response head in `out` and the body to the client as the framing delimits it.
/// Returns whether the body was complete, and whether the upstream sent bytes past its end.
async fn relay_body(
    up: &mut RawConn,
    client: &mut TcpStream,
    out: &mut Vec<u8>,
    framing: Framing,
    head_len: usize,
    stall: Duration,
) -> io::Result<(bool, bool)> {
    let mut chunked = Chunked::default();
    // The part of `bytes` that belongs to the body, and whether the body ends there.
    let mut take = |bytes: &[u8], left: &mut u64| -> io::Result<(usize, bool)> {
        match framing {
            Framing::Empty => Ok((0, true)),
            Framing::Length(_) => {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                *left -= n as u64;
                Ok((n, *left == 0))
            }
            Framing::Chunked => match chunked.scan(bytes).map_err(io::Error::other)? {
                Scan::More => Ok((bytes.len(), false)),
                Scan::End(n) => Ok((n, true)),
            },
            Framing::UntilClose => Ok((bytes.len(), false)),
        }
    };
    let mut left = match framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    // What came with the head: often the whole body, sent in the head's write.
    let first = up.buf.get(head_len..).unwrap_or_default();
    let (n, mut done) = take(first, &mut left)?;
    let mut extra = n < first.len();
    out.extend_from_slice(&first[..n]);
    write(client, out, stall).await?;
    while !done {
        up.buf.clear();
        up.buf.reserve(READ);
        let got = tokio::time::timeout(stall, up.stream.read_buf(&mut up.buf))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "upstream stalled"))??;
        if got == 0 {
            // The end of an until-close body; a truncated one otherwise.
            return Ok((framing == Framing::UntilClose, false));
        }
        let (n, end) = take(&up.buf, &mut left)?;
        done = end;
        extra = n < up.buf.len();
        write(client, &up.buf[..n], stall).await?;
    }
    Ok((true, extra))
}

/// Writes all of `bytes`, giving up after `stall` without progress. A write the socket takes at
/// once (the usual case) arms no timer.
pub async fn write(client: &mut TcpStream, bytes: &[u8], stall: Duration) -> io::Result<()> {
    let sent = match client.try_write(bytes) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    if sent == bytes.len() {
        return Ok(());
    }
    tokio::time::timeout(stall, client.write_all(&bytes[sent..]))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client stalled"))?
}
