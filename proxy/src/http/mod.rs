//! The HTTP path: HTTP/1.1 (keep-alive, chunked, upgrade passthrough, h2c upgrade) and HTTP/2
//! (prior knowledge) served with hyper, or in the connection's task on the common paths
//! ([`fast`] for HTTP/1.1, [`h2fast`] for HTTP/2 to an HTTP/1.1 upstream); every request is
//! checked against policy and forwarded on a pooled upstream connection, or answered with a
//! protocol-native denial.
//!
//! gRPC is HTTP/2 with `content-type: application/grpc`: its service and method come from
//! `:path`, and its denials are trailers-only responses with `grpc-status`.

mod busy;
pub(crate) mod fast;
mod forward;
mod grpc;
mod h2c;
pub(crate) mod h2codec;
pub(crate) mod h2fast;
mod headers;
mod host;
pub(crate) mod path;
mod respond;
pub(crate) mod sanitize;
mod service;
#[cfg(test)]
mod tests;
mod trailers;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use self::busy::BusyBody;
use self::respond::RespBody;
use crate::conn::ConnCtx;
use crate::metrics::Protocol;
use crate::transport::activity::Activity;
use crate::transport::{Io, PrefixedIo};

/// Serves HTTP/1.1 on a client connection: on the fast path (see [`fast`]) while requests allow
/// it and the upstream speaks HTTP/1.1, then with hyper.
pub async fn serve_http1(io: PrefixedIo<Io>, ctx: Arc<ConnCtx>) {
    count_connection(&ctx, Protocol::Http1);
    let io = if forward::upstream_version(&ctx, Protocol::Http1)
        == crate::upstream::HttpVersion::Http1
    {
        match fast::serve(io, &ctx).await {
            fast::Served::Done => return,
            fast::Served::HandOff(io) => io,
        }
    } else {
        io
    };
    serve_hyper_http1(io, ctx).await;
}

/// Serves HTTP/1.1 with hyper until the client closes, the idle timeout, or shutdown.
async fn serve_hyper_http1<I>(io: PrefixedIo<I>, ctx: Arc<ConnCtx>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Bytes count as activity too: a request head or body trickling in is not idle.
    let activity = Activity::default();
    let io = io.track(activity.clone());
    let limits = &ctx.shared.limits;
    let svc_ctx = Arc::clone(&ctx);
    let svc_activity = activity.clone();
    let svc =
        service_fn(move |req| counted(&svc_activity, Arc::clone(&svc_ctx), Protocol::Http1, req));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades();
    // hyper's graceful shutdown closes an idle HTTP/1.1 connection at once, even with a request
    // waiting in its socket: first the drain grace, with `Connection: close` on each response.
    let grace = crate::conn::drain_grace(limits);
    drive(conn, |c| c.graceful_shutdown(), grace, activity, ctx).await;
}

/// Serves HTTP/2 (prior knowledge, or after an h2c upgrade) on `io`: in the connection's task
/// (see [`h2fast`]) when the upstream speaks HTTP/1.1, else with hyper on both sides.
pub async fn serve_http2<I>(io: PrefixedIo<I>, ctx: Arc<ConnCtx>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    count_connection(&ctx, Protocol::Http2);
    if forward::upstream_version(&ctx, Protocol::Http2) == crate::upstream::HttpVersion::Http1 {
        h2fast::serve(io, ctx).await;
    } else {
        serve_hyper_http2(io, ctx).await;
    }
}

/// Serves HTTP/2 with hyper, to an HTTP/2 upstream.
async fn serve_hyper_http2<I>(io: PrefixedIo<I>, ctx: Arc<ConnCtx>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Open streams, not bytes: the keep-alive PINGs below (and the client's answers) must not
    // keep an otherwise idle connection open forever.
    let activity = Activity::default();
    let limits = &ctx.shared.limits;
    let svc_ctx = Arc::clone(&ctx);
    let svc_activity = activity.clone();
    // Boxed: hyper moves each stream's future into its own task; a pointer moves for free.
    let svc = service_fn(move |req| {
        Box::pin(counted(
            &svc_activity,
            Arc::clone(&svc_ctx),
            Protocol::Http2,
            req,
        ))
    });
    let conn = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(limits.idle_timeout / 2))
        .keep_alive_timeout(std::time::Duration::from_secs(20))
        .serve_connection(TokioIo::new(io), svc);
    // hyper's (the h2 crate's) graceful shutdown is already RFC 9113 section 6.8's two steps: a
    // GOAWAY with 2^31-1 and a PING, the final GOAWAY when the PING's answer comes.
    drive(
        conn,
        |c| c.graceful_shutdown(),
        std::time::Duration::ZERO,
        activity,
        ctx,
    )
    .await;
}

/// One request, counted as open in `activity` from its head until its response body is dropped.
fn counted(
    activity: &Activity,
    ctx: Arc<ConnCtx>,
    protocol: Protocol,
    req: Request<Incoming>,
) -> impl Future<Output = Result<Response<BusyBody<RespBody>>, Infallible>> + use<> {
    let busy = activity.busy();
    let head = req.method() == http::Method::HEAD;
    let http1 = (protocol == Protocol::Http1).then(|| Arc::clone(&ctx));
    let handled = service::handle(ctx, protocol, req);
    async move {
        let mut resp = handled.await?;
        if head {
            respond::drop_body_for_head(&mut resp);
        }
        // Draining: the client sends nothing more on this connection (hyper closes it after
        // this response). Not on a 101, whose connection becomes the upgraded one.
        let draining = http1.is_some_and(|ctx| *ctx.shutdown.borrow());
        if draining && resp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
            resp.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        Ok(resp.map(|body| BusyBody::new(body, busy)))
    }
}

fn count_connection(ctx: &ConnCtx, protocol: Protocol) {
    ctx.shared.metrics.count_connection(protocol);
}

/// Runs the connection; on shutdown (after `grace`, while it still serves), or after
/// `idleTimeout` without activity, asks it to finish in-flight requests and stop (HTTP/1.1:
/// `Connection: close`, an idle connection closed; HTTP/2: GOAWAY), bounded by the drain
/// timeout.
async fn drive<C>(
    conn: C,
    graceful: fn(std::pin::Pin<&mut C>),
    grace: std::time::Duration,
    activity: Activity,
    ctx: Arc<ConnCtx>,
) where
    C: std::future::Future<Output = Result<(), hyper::Error>>,
{
    let mut conn = std::pin::pin!(conn);
    let mut shutdown = ctx.shutdown.clone();
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = async {
            tokio::select! {
                _ = crate::conn::signalled(&mut shutdown) => tokio::time::sleep(grace).await,
                _ = activity.idle_for(ctx.shared.limits.idle_timeout) => {}
            }
        } => {
            graceful(conn.as_mut());
            match tokio::time::timeout(ctx.shared.limits.drain_timeout, conn.as_mut()).await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
    };
    if let Err(error) = result {
        tracing::debug!(client = %ctx.client, %error, "downstream HTTP connection ended with an error");
    }
}
