//! DNS over TCP: the listener accepts and admits the connection as any other; this reads its
//! length-prefixed queries one after another, answers each (the proxy's own answer, or the
//! resolver's through [`super::exchange`]) and closes after the idle timeout, on shutdown
//! between queries, or when the client sends something that is not a query.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sockmesh_policy::L4Protocol;
use tokio::io::AsyncReadExt;

use crate::conn::{ConnCtx, signalled};
use crate::failure::Failure;
use crate::metrics::{Protocol, VerdictLabel};
use crate::transport::{self, Io, PrefixedIo};

use super::exchange::exchange;
use super::message::{self, Query, Rejected};
use super::record::{Outcome, record};

/// Serves one client connection; `endpoint` is the resolver the listener checked it against.
pub async fn serve(mut io: PrefixedIo<Io>, ctx: Arc<ConnCtx>, endpoint: SocketAddr) {
    ctx.shared.metrics.count_connection(Protocol::Dns);
    let mut shutdown = ctx.shutdown.clone();
    let idle = ctx.shared.limits.idle_timeout;
    loop {
        let len = tokio::select! {
            biased;
            _ = signalled(&mut shutdown) => return,
            got = tokio::time::timeout(idle, io.read_u16()) => match got {
                Ok(Ok(len)) => usize::from(len),
                _ => return,
            },
        };
        let started = Instant::now();
        let mut msg = vec![0u8; len];
        let read = tokio::time::timeout(
            ctx.shared.limits.header_read_timeout,
            io.read_exact(&mut msg),
        )
        .await;
        if !matches!(read, Ok(Ok(_))) {
            return;
        }
        let Some(answer) = answer(&ctx, endpoint, &msg, started).await else {
            return;
        };
        let mut framed = Vec::with_capacity(answer.len() + 2);
        framed.extend_from_slice(&(answer.len() as u16).to_be_bytes());
        framed.extend_from_slice(&answer);
        if transport::send(&mut io, &framed).await.is_err() {
            return;
        }
    }
}

/// The answer to one message, logged; `None` to close (a message that is no query).
async fn answer(
    ctx: &ConnCtx,
    endpoint: SocketAddr,
    msg: &[u8],
    started: Instant,
) -> Option<Vec<u8>> {
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
    let (answer, label, why) =
        match exchange(endpoint, &query, msg, ctx.shared.dns.query_timeout).await {
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
        other => other.text(),
    }
}
