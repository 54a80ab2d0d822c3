//! HTTP/2 to an HTTP/1.1 upstream, served in the connection's own task: each stream is checked
//! against policy and written as HTTP/1.1 on a pooled upstream connection (the fast path's
//! `RawConn`), and its response comes back as HEADERS and DATA frames.
//!
//! Why: with hyper on both sides every stream cost a task, a request and a response header map
//! on each side, a channel hop to the upstream connection's task and its wake-up; with the `h2`
//! crate in one task, still a shared stream store and per-stream queues. Here the connection
//! (`conn`) speaks HTTP/2 with our own codec (`super::h2codec`), and the streams of one
//! connection run concurrently as futures of this task, sharing one write buffer (`shared`).
//!
//! The upstream half is HTTP/1.1 only: an HTTP/2 upstream (`protocol: http2`, or `auto` with an
//! HTTP/2 client) goes through hyper (`super::serve_hyper_http2`), which multiplexes upstream.
//! Denials, limits, metrics and the access log are the same as on the other paths.

mod body;
mod conn;
mod deadline;
mod exchange;
mod queue;
mod request;
mod running;
mod shared;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::conn::ConnCtx;
use crate::task::OnWake;
use crate::transport::activity::Activity;
use crate::upstream::Share;

use conn::{Conn, Settings};
use running::Running;

/// Serves an HTTP/2 connection (prior knowledge, or after an h2c upgrade) until the client
/// closes, the idle timeout, or shutdown.
pub async fn serve<I>(io: I, ctx: Arc<ConnCtx>)
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let limits = &ctx.shared.limits;
    let mut conn = Conn::new(
        io,
        Settings {
            max_streams: limits.max_concurrent_streams,
            max_header_list: limits.max_header_bytes,
            keepalive: limits.idle_timeout / 2,
            preface_timeout: limits.header_read_timeout,
        },
    );
    // Open streams, not bytes: the keep-alive PINGs (and the client's answers) must not keep an
    // otherwise idle connection open forever.
    let activity = Activity::default();
    // Upstream connections this connection's streams hold at once (each exchange holds one):
    // a bounded share of the cluster's, however many streams the client opens.
    let share = Share::new(limits.max_upstream_per_connection);
    let mut running = std::pin::pin!(Running::new());
    let mut shutdown = ctx.shutdown.clone();
    // Polled only when its signal or timer fires, not on each of the connection's wake-ups
    // (see `crate::task`).
    let mut drain = std::pin::pin!(OnWake::new(async {
        tokio::select! {
            _ = crate::conn::signalled(&mut shutdown) => {}
            _ = activity.idle_for(limits.idle_timeout) => {}
        }
    }));
    // Set once the first GOAWAY went out: the final one follows the client's answer to a PING,
    // or the drain grace at most; in-flight streams get the drain timeout.
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut grace: Option<tokio::time::Instant> = None;
    loop {
        let event = tokio::select! {
            event = conn.run(running.as_mut(), |req, stream| {
                stream::serve(&ctx, req, stream, activity.busy(), &share)
            }) => event,
            () = &mut drain, if deadline.is_none() => {
                conn.graceful_shutdown();
                let now = tokio::time::Instant::now();
                grace = Some(now + crate::conn::drain_grace(limits));
                deadline = Some(now + limits.drain_timeout);
                continue;
            }
            () = sleep_until(grace), if grace.is_some() => {
                conn.final_goaway();
                grace = None;
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

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
