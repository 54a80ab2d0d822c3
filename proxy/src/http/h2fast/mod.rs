//! HTTP/2 to an HTTP/1.1 upstream, served in the connection's own task with the `h2` crate: each
//! stream is checked against policy and written as HTTP/1.1 on a pooled upstream connection
//! (the fast path's `RawConn`), and its response comes back as HEADERS and DATA frames.
//!
//! Why: with hyper on both sides every stream cost a task, a request and a response header map
//! on each side, a channel hop to the upstream connection's task and its wake-up; the bench
//! (`bench/http/run.sh`, h2load rows) put that at 1.45x HAProxy's CPU per request. Streams of
//! one connection run concurrently as futures of this task, without spawning.
//!
//! The upstream half is HTTP/1.1 only: an HTTP/2 upstream (`protocol: http2`, or `auto` with an
//! HTTP/2 client) goes through hyper (`super::serve_hyper_http2`), which multiplexes upstream.
//! Denials, limits, metrics and the access log are the same as on the other paths.

mod body;
mod exchange;
mod stream;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::Limits;
use crate::detect::activity::Activity;
use crate::listener::ConnCtx;

/// How long a keep-alive PING may go unanswered before the connection is closed (hyper's
/// setting on the other HTTP/2 path).
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Serves an HTTP/2 connection (prior knowledge, or after an h2c upgrade) until the client
/// closes, the idle timeout, or shutdown.
pub async fn serve<I>(io: I, ctx: Arc<ConnCtx>)
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let limits = &ctx.shared.limits;
    let handshake = builder(limits).handshake::<_, Bytes>(io);
    let mut conn = match tokio::time::timeout(limits.header_read_timeout, handshake).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(error)) => {
            tracing::debug!(client = %ctx.client, %error, "HTTP/2 handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(client = %ctx.client, "HTTP/2 client sent no preface in time");
            return;
        }
    };
    // Open streams, not bytes: the keep-alive PINGs (and the client's answers) must not keep an
    // otherwise idle connection open forever.
    let activity = Activity::default();
    let mut streams = FuturesUnordered::new();
    let mut keepalive = std::pin::pin!(keepalive(conn.ping_pong(), limits.idle_timeout / 2));
    let mut shutdown = ctx.shutdown.clone();
    let mut drain = std::pin::pin!(async {
        tokio::select! {
            _ = crate::listener::signalled(&mut shutdown) => {}
            _ = activity.idle_for(limits.idle_timeout) => {}
        }
    });
    // Set once GOAWAY went out: in-flight streams get the drain timeout.
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let event = tokio::select! {
            event = run(&mut conn, &mut streams, |req, respond| {
                stream::serve(&ctx, req, respond, activity.busy())
            }) => event,
            () = &mut keepalive => {
                tracing::debug!(client = %ctx.client, "HTTP/2 client did not answer a keep-alive PING");
                return;
            }
            () = &mut drain, if deadline.is_none() => {
                conn.graceful_shutdown();
                deadline = Some(tokio::time::Instant::now() + limits.drain_timeout);
                continue;
            }
            () = sleep_until(deadline), if deadline.is_some() => return,
        };
        if let Err(error) = event {
            tracing::debug!(client = %ctx.client, %error, "downstream HTTP/2 connection ended with an error");
        }
        return;
    }
}

/// Drives the connection and its streams until the connection closes (`Ok`: the client went
/// away, or a graceful close finished with no stream left).
///
/// Each turn runs every stream that can progress before the connection flushes: responses that
/// came back from several upstreams at once leave in one write, not one each.
async fn run<I, S>(
    conn: &mut h2::server::Connection<I, Bytes>,
    streams: &mut FuturesUnordered<S>,
    mut serve: impl FnMut(http::Request<h2::RecvStream>, h2::server::SendResponse<Bytes>) -> S,
) -> Result<(), h2::Error>
where
    I: AsyncRead + AsyncWrite + Unpin,
    S: Future<Output = ()>,
{
    std::future::poll_fn(|cx| {
        loop {
            while let Poll::Ready(Some(())) = streams.poll_next_unpin(cx) {}
            match conn.poll_accept(cx) {
                // A new stream: run it at once (its request goes upstream in this turn).
                Poll::Ready(Some(Ok((req, respond)))) => streams.push(serve(req, respond)),
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(error)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

/// The HTTP/2 settings: the limits, and hyper's flow-control windows and send buffer on the
/// other path (1 MiB windows, 400 KiB of unsent data per stream).
fn builder(limits: &Limits) -> h2::server::Builder {
    let mut b = h2::server::Builder::new();
    b.initial_window_size(1024 * 1024)
        .initial_connection_window_size(1024 * 1024)
        .max_send_buffer_size(400 * 1024)
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    b
}

/// PINGs the client every `interval`; resolves when one goes unanswered for [`PING_TIMEOUT`].
async fn keepalive(ping_pong: Option<h2::PingPong>, interval: Duration) {
    let Some(mut ping_pong) = ping_pong else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(interval).await;
        let pong = tokio::time::timeout(PING_TIMEOUT, ping_pong.ping(h2::Ping::opaque()));
        if !matches!(pong.await, Ok(Ok(_))) {
            return;
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
