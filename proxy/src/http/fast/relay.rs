//! One request and its response on the fast path: the request goes out on a pooled upstream
//! connection, the response head comes back rewritten, and the body is relayed as it is framed
//! (length, chunked, or until the upstream closes).

use crate::transport::send;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::transport::Io;
use tokio::io::AsyncReadExt;

use super::head::{self, Framing};
use super::upstream::{Attempt, BodyEnd, HeadReader, READ, Tries, max_response_head};
use crate::conn::ConnCtx;
use crate::failure::Failure;
use crate::task::Deadline;
use crate::upstream::{Breaker, RawConn};

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
    /// When the request's head was read: the request timeout runs from here.
    pub started: Instant,
}

/// A response relayed to the client (in full, or cut off after its head was sent).
pub struct Done {
    pub status: u16,
    /// The client connection can carry another request.
    pub keep: bool,
}

impl Exchange<'_> {
    /// Runs the exchange; `Err` is the failure to answer when no response head came back.
    /// `out` is scratch space for the client-bound head.
    /// The request timeout runs on the connection's `timer`.
    pub async fn run(
        &self,
        client: &mut Io,
        out: &mut Vec<u8>,
        timer: &mut Deadline,
    ) -> Result<Done, Failure> {
        let limits = &self.ctx.shared.limits;
        let _in_flight =
            Breaker::request(&**self.ctx.target.breaker()).ok_or(Failure::Overloaded)?;
        let deadline = (self.started + limits.request_timeout).into();
        let sent = timer.within(deadline, self.send(client, out)).await;
        let (mut up, resp) = sent.map_err(|_| Failure::UpstreamTimeout)??;
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
        client: &mut Io,
        out: &mut Vec<u8>,
    ) -> Result<(RawConn, head::Response), Failure> {
        let mut tries = Tries::new(self.ctx, self.endpoint, self.idempotent);
        loop {
            let mut up = tries.connect().await?;
            match self.head(&mut up, client, out).await {
                Ok(resp) => return Ok((up, resp)),
                Err(failure) => tries.failed(failure)?,
            }
        }
    }

    async fn head(
        &self,
        up: &mut RawConn,
        client: &mut Io,
        out: &mut Vec<u8>,
    ) -> Result<head::Response, Attempt> {
        if send(&mut up.stream, self.request).await.is_err() {
            return Err(Attempt::Early);
        }
        let max = max_response_head(self.ctx);
        let mut reading = HeadReader::new(&mut up.stream, &mut up.buf);
        loop {
            let resp = reading
                .next(max, |buf| {
                    out.clear();
                    // Asked when the head is in: a shutdown may have begun while it was awaited.
                    let close_client = super::closing(self.ctx, self.asked_close);
                    head::parse_response(buf, self.head_request, close_client, out)
                })
                .await?;
            if resp.status >= 200 {
                return Ok(resp);
            }
            // 1xx (103 Early Hints, ...): passed on, then the next head.
            if send(client, out).await.is_err() {
                return Err(Attempt::Bad);
            }
            reading.buf.drain(..resp.len);
        }
    }
}

/// Writes the response head in `out` and the body to the client as the framing delimits it.
/// Returns whether the body was complete, and whether the upstream sent bytes past its end.
async fn relay_body(
    up: &mut RawConn,
    client: &mut Io,
    out: &mut Vec<u8>,
    framing: Framing,
    head_len: usize,
    stall: Duration,
) -> io::Result<(bool, bool)> {
    // The bytes are relayed as they are, chunk framing and all.
    let mut end = BodyEnd::new(framing, false);
    // What came with the head: often the whole body, sent in the head's write.
    let first = up.buf.get(head_len..).unwrap_or_default();
    let (n, mut done) = end.take(first, |_| {})?;
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
        let (n, ended) = end.take(&up.buf, |_| {})?;
        done = ended;
        extra = n < up.buf.len();
        write(client, &up.buf[..n], stall).await?;
    }
    Ok((true, extra))
}

/// Writes all of `bytes`, giving up after `stall` without progress. A write the socket takes at
/// once (the usual case) arms no timer.
pub async fn write(client: &mut Io, bytes: &[u8], stall: Duration) -> io::Result<()> {
    let sent = match client.try_write(bytes) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    if sent == bytes.len() {
        return Ok(());
    }
    tokio::time::timeout(stall, send(client, &bytes[sent..]))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client stalled"))?
}
