//! DNS over TCP: the listener accepts and admits the connection as any other; this reads its
//! length-prefixed queries and answers each (the proxy's own answer, or the resolver's through
//! [`super::exchange`]) as soon as it has it, so a slow name does not hold up the queries the
//! client pipelined behind it (RFC 7766 section 6.2.1.1: answers may come out of order; clients
//! match them by id). It closes after the idle timeout, after a partial message stalls for the
//! header read timeout, on shutdown once the queries it took are answered, or when the client
//! sends something that is not a query.
//!
//! At most `dns.maxInflightPerClient` queries of one connection wait at once; past that it stops
//! reading, so the client's own writes back up (TCP flow control), and what it has buffered is
//! at most one read past a partial message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use sockmesh_policy::L4Protocol;
use tokio::io::AsyncReadExt;
use tokio::time::Instant as Deadline;

use crate::conn::{ConnCtx, signalled};
use crate::failure::Failure;
use crate::metrics::{Protocol, VerdictLabel};
use crate::transport::{self, Io, PrefixedIo};

use super::exchange::exchange;
use super::message::{self, Query, Rejected};
use super::record::{Outcome, record};

/// What one read asks room for.
const READ_CHUNK: usize = 4096;

/// Serves one client connection; `endpoint` is the resolver the listener checked it against.
pub async fn serve(io: PrefixedIo<Io>, ctx: Arc<ConnCtx>, endpoint: SocketAddr) {
    ctx.shared.metrics.count_connection(Protocol::Dns);
    let (mut rd, mut wr) = tokio::io::split(io);
    let mut shutdown = ctx.shutdown.clone();
    let limits = &ctx.shared.limits;
    let cap = ctx.shared.dns.max_inflight_per_client.max(1);
    let mut buf = BytesMut::new();
    let mut pending = FuturesUnordered::new();
    let (mut eof, mut closing) = (false, false);
    let mut last = Deadline::now();
    loop {
        while pending.len() < cap
            && let Some(msg) = next_message(&mut buf)
        {
            pending.push(answer(&ctx, endpoint, msg, Instant::now()));
        }
        if (eof || closing) && pending.is_empty() {
            return;
        }
        let reading = !eof && !closing && pending.len() < cap;
        let wait = if buf.is_empty() {
            limits.idle_timeout
        } else {
            limits.header_read_timeout
        };
        buf.reserve(READ_CHUNK);
        tokio::select! {
            biased;
            _ = signalled(&mut shutdown), if !closing => closing = true,
            done = pending.next(), if !pending.is_empty() => {
                let Some(Some(answer)) = done else { return };
                if transport::send(&mut wr, &framed(&answer)).await.is_err() {
                    return;
                }
                last = Deadline::now();
            }
            got = rd.read_buf(&mut buf), if reading => match got {
                Ok(0) => eof = true,
                Ok(_) => last = Deadline::now(),
                Err(_) => return,
            },
            _ = tokio::time::sleep_until(last + wait), if pending.is_empty() => return,
        }
    }
}

/// Takes one whole length-prefixed message off the front of `buf`, if it holds one.
fn next_message(buf: &mut BytesMut) -> Option<Bytes> {
    let len = usize::from(u16::from_be_bytes([*buf.first()?, *buf.get(1)?]));
    if buf.len() < 2 + len {
        return None;
    }
    buf.advance(2);
    Some(buf.split_to(len).freeze())
}

/// `answer` behind its two-byte length.
fn framed(answer: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(answer.len() + 2);
    framed.extend_from_slice(&(answer.len() as u16).to_be_bytes());
    framed.extend_from_slice(answer);
    framed
}

/// The answer to one message, logged; `None` to close (a message that is no query).
async fn answer(
    ctx: &ConnCtx,
    endpoint: SocketAddr,
    msg: Bytes,
    started: Instant,
) -> Option<Vec<u8>> {
    let msg = &msg[..];
    let outcome = |query, verdict, rule, upstream, rcode, out: usize, why| Outcome {
        listener: &ctx.listener.name,
        client: ctx.client,
        query,
        verdict,
        rule,
        upstream,
        rcode,
        started,
        bytes_in: msg.len(),
        bytes_out: out,
        why,
    };
    let metrics = &ctx.shared.metrics;
    let query = match Query::parse(msg) {
        Ok(q) => q,
        Err(Rejected::Drop(_)) => return None,
        Err(Rejected::Answer(rcode, why, question)) => {
            let answer = message::reject_answer(msg, rcode, question.as_deref())?;
            let o = outcome(
                None,
                VerdictLabel::Error,
                "",
                None,
                rcode as u8,
                answer.len(),
                why,
            );
            record(metrics, &o);
            return Some(answer);
        }
    };
    let meta = super::meta(&ctx.listener, ctx.client, endpoint, L4Protocol::Tcp);
    let verdict = super::check(&ctx.shared, &meta, &query.name);
    let rule = verdict.rule.as_str();
    if !verdict.allowed {
        let rcode = ctx.shared.dns.reject.rcode();
        let answer = query.answer(rcode);
        let o = outcome(
            Some(&query),
            VerdictLabel::Deny,
            rule,
            None,
            rcode as u8,
            answer.len(),
            "",
        );
        record(metrics, &o);
        return Some(answer);
    }
    let exchanged = match ctx.shared.dns_tcp_exchanges.try_acquire() {
        Ok(_permit) => exchange(endpoint, &query, msg, ctx.shared.dns.query_timeout).await,
        Err(_) => {
            metrics.dns_overflow.inc();
            Err(Failure::Overloaded)
        }
    };
    let (answer, label, why) = match exchanged {
        Ok(answer) => {
            super::learn::learn(&ctx.shared, &query, &answer);
            (answer, VerdictLabel::Allow, "")
        }
        Err(failure) => (
            query.answer(failure.dns_rcode()),
            VerdictLabel::Error,
            why(failure),
        ),
    };
    let rcode = message::answer_rcode(&answer);
    let o = outcome(
        Some(&query),
        label,
        rule,
        Some(endpoint),
        rcode,
        answer.len(),
        why,
    );
    record(metrics, &o);
    Some(answer)
}

fn why(failure: Failure) -> &'static str {
    match failure {
        Failure::UpstreamTimeout => "timeout",
        Failure::Unreachable => "resolver unreachable",
        Failure::Overloaded => "too many queries in flight (dns.maxInflight)",
        other => other.text(),
    }
}
