//! The upstream side of both in-task paths (HTTP/1.1 in `fast`, HTTP/2 in `h2fast`): a pooled
//! plain HTTP/1.1 connection with one retry on a fresh one, response heads read from it, and where
//! a response body ends.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::chunked::{Chunked, Scan};
use super::head::{self, Framing, ParsedResponse};
use crate::conn::ConnCtx;
use crate::failure::Failure;
use crate::telemetry::ratelimit::warn_limited;
use crate::upstream::RawConn;

/// Bytes read from the upstream at a time.
pub const READ: usize = 16 * 1024;
/// Largest response head read: hyper's client buffer limit (8 KiB + 100 fields of 4 KiB).
const MAX_RESPONSE_HEAD: usize = 8192 + 4096 * 100;

/// Why an exchange got no response head.
pub enum Attempt {
    /// The connection failed before a byte of response: safe to retry if idempotent.
    Early,
    /// The upstream failed or sent something that is not a response.
    Bad,
    /// The exchange cannot go on; answer with this status.
    Answer(Failure),
}

/// The attempts of one exchange: on a pooled (or new) connection to `endpoint`, and, when a
/// pooled connection fails before any byte of response and the request can be sent again, once
/// more on a fresh one.
///
/// ```ignore
/// let mut tries = Tries::new(ctx, endpoint, idempotent);
/// loop {
///     let mut up = tries.connect().await?;
///     match exchange(&mut up).await {
///         Ok(resp) => return Ok((up, resp)),
///         Err(failure) => tries.failed(failure)?,
///     }
/// }
/// ```
pub struct Tries<'a> {
    ctx: &'a ConnCtx,
    endpoint: SocketAddr,
    retry: bool,
    fresh: bool,
    pooled: bool,
}

impl<'a> Tries<'a> {
    pub fn new(ctx: &'a ConnCtx, endpoint: SocketAddr, retry: bool) -> Tries<'a> {
        Tries {
            ctx,
            endpoint,
            retry,
            fresh: false,
            pooled: false,
        }
    }

    /// A connection for the next attempt; `Err` is the status to answer with.
    pub async fn connect(&mut self) -> Result<RawConn, Failure> {
        let endpoint = self.endpoint;
        let target = &self.ctx.target;
        let (up, pooled) = self
            .ctx
            .shared
            .pool
            .checkout_raw(
                endpoint,
                target.connect_timeout(),
                self.fresh,
                target.breaker(),
            )
            .await
            .map_err(|error| {
                // An overflow is counted (`sockmesh_upstream_overflow_total`), not logged per
                // request: there is one for every request of a flood.
                if error.is_overflow() {
                    tracing::debug!(%endpoint, %error, "upstream request refused");
                    return Failure::Overloaded;
                }
                warn_limited!((endpoint, error.cause()), %endpoint, %error, "upstream request failed");
                Failure::Unreachable
            })?;
        self.pooled = pooled;
        Ok(up)
    }

    /// After an attempt failed: `Ok` to try again on a fresh connection, else the status to
    /// failure to answer.
    pub fn failed(&mut self, failure: Attempt) -> Result<(), Failure> {
        match failure {
            Attempt::Early if self.pooled && self.retry && !self.fresh => {
                self.fresh = true;
                Ok(())
            }
            Attempt::Answer(failure) => Err(failure),
            Attempt::Early | Attempt::Bad => Err(Failure::UpstreamFailed),
        }
    }
}

/// The largest response head read from an upstream.
pub fn max_response_head(ctx: &ConnCtx) -> usize {
    ctx.shared.limits.max_header_bytes.max(MAX_RESPONSE_HEAD)
}

/// Reads response heads from an upstream connection after a request was written on it.
pub struct HeadReader<'a, R> {
    read: &'a mut R,
    pub buf: &'a mut Vec<u8>,
    /// A byte of response came: a failure now is no longer safe to retry.
    any: bool,
}

impl<'a, R: AsyncRead + Unpin> HeadReader<'a, R> {
    /// Reads from `read` into `buf`, which starts empty.
    pub fn new(read: &'a mut R, buf: &'a mut Vec<u8>) -> HeadReader<'a, R> {
        buf.clear();
        HeadReader {
            read,
            buf,
            any: false,
        }
    }

    /// The next head at the start of the read buffer (a 1xx one included: the caller drains it
    /// and asks again), parsed by `parse`; reads until it is complete or over `max` bytes.
    pub async fn next(
        &mut self,
        max: usize,
        mut parse: impl FnMut(&[u8]) -> ParsedResponse,
    ) -> Result<head::Response, Attempt> {
        loop {
            if !self.buf.is_empty() {
                match parse(self.buf) {
                    ParsedResponse::Partial if self.buf.len() > max => return Err(Attempt::Bad),
                    ParsedResponse::Partial => {}
                    ParsedResponse::Invalid(reason) => {
                        tracing::debug!(reason, "invalid upstream response");
                        return Err(Attempt::Bad);
                    }
                    ParsedResponse::Done(resp) => return Ok(resp),
                }
            }
            self.buf.reserve(READ);
            match self.read.read_buf(self.buf).await {
                Ok(0) | Err(_) if !self.any => return Err(Attempt::Early),
                Ok(0) | Err(_) => return Err(Attempt::Bad),
                Ok(_) => self.any = true,
            }
        }
    }
}

/// Finds where a response body ends, as its framing says, from its bytes as they come.
pub struct BodyEnd {
    framing: Framing,
    left: u64,
    chunked: Chunked,
}

impl BodyEnd {
    /// `keep_trailers`: keep a chunked body's trailer section for [`BodyEnd::take_trailers`].
    pub fn new(framing: Framing, keep_trailers: bool) -> BodyEnd {
        BodyEnd {
            framing,
            left: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            chunked: if keep_trailers {
                Chunked::keeping_trailers()
            } else {
                Chunked::default()
            },
        }
    }

    /// How much of `bytes` belongs to the body, and whether the body ends there; `data` is handed
    /// the ranges of `bytes` that are content (for a chunked body, the chunks' data alone).
    pub fn take(
        &mut self,
        bytes: &[u8],
        mut data: impl FnMut(Range<usize>),
    ) -> io::Result<(usize, bool)> {
        match self.framing {
            Framing::Empty => Ok((0, true)),
            Framing::Length(_) => {
                let n = usize::try_from(self.left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.left -= n as u64;
                data(0..n);
                Ok((n, self.left == 0))
            }
            Framing::Chunked => match self.chunked.scan_data(bytes, data) {
                Ok(Scan::More) => Ok((bytes.len(), false)),
                Ok(Scan::End(n)) => Ok((n, true)),
                Err(reason) => Err(io::Error::other(reason)),
            },
            Framing::UntilClose => {
                data(0..bytes.len());
                Ok((bytes.len(), false))
            }
        }
    }

    /// A chunked body's trailer section (see [`Chunked::take_trailers`]).
    pub fn take_trailers(&mut self) -> Vec<u8> {
        self.chunked.take_trailers()
    }
}
