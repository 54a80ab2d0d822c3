//! Opaque TCP: connections that are not HTTP (or listeners set to `tcp`) are proxied byte for byte
//! after the L3/L4 policy check, with an idle timeout, and logged once when they end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockmesh_policy::RuleId;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::detect::PrefixedIo;
use crate::detect::activity::Activity;
use crate::listener::ConnCtx;
use crate::metrics::{Protocol, VerdictLabel};
use crate::telemetry::access_log;

mod copy;

pub async fn proxy(
    downstream: PrefixedIo<TcpStream>,
    ctx: Arc<ConnCtx>,
    endpoint: SocketAddr,
    rule: RuleId,
) {
    let start = Instant::now();
    let metrics = &ctx.shared.metrics;
    metrics.count_connection(Protocol::Tcp);
    let connected = crate::upstream::connect(endpoint, ctx.target.connect_timeout()).await;
    let (label, bytes, note) = match connected {
        Ok(upstream) => {
            metrics.upstream_connects.inc();
            metrics.upstream_active.inc();
            let result = relay(downstream, upstream, &ctx).await;
            metrics.upstream_active.dec();
            match result {
                Ok(bytes) => (VerdictLabel::Allow, bytes, String::new()),
                Err(e) => (VerdictLabel::Allow, (0, 0), e.to_string()),
            }
        }
        Err(error) => {
            metrics.upstream_connect_errors.inc();
            tracing::warn!(%endpoint, %error, "upstream connect failed");
            crate::listener::reset(downstream.into_inner());
            (VerdictLabel::Error, (0, 0), error.to_string())
        }
    };
    record(
        &ctx,
        endpoint,
        label,
        rule.as_str(),
        bytes,
        start.elapsed(),
        &note,
    );
}

/// Records a finished (or refused) TCP connection: metrics and one access-log line.
pub fn record(
    ctx: &ConnCtx,
    endpoint: SocketAddr,
    label: VerdictLabel,
    rule: &str,
    bytes: (u64, u64),
    duration: Duration,
    note: &str,
) {
    access_log::record(
        &ctx.shared.metrics,
        label,
        &access_log::Entry {
            listener: &ctx.listener.name,
            protocol: Protocol::Tcp,
            client: ctx.client,
            method: "",
            path: "",
            authority: "",
            allowed: label != VerdictLabel::Deny,
            rule,
            upstream: Some(endpoint),
            status: 0,
            grpc_status: None,
            bytes_in: bytes.0,
            bytes_out: bytes.1,
            duration,
            note,
        },
    );
}

/// Relays bytes both ways until both sides have closed, the connection has been idle for
/// `idleTimeout`, or a shutdown's `drainTimeout` has run out: opaque TCP, and HTTP connections
/// after a protocol upgrade (WebSocket).
pub async fn relay<A, B>(a: A, b: B, ctx: &ConnCtx) -> std::io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let limits = &ctx.shared.limits;
    let activity = Activity::default();
    let mut shutdown = ctx.shutdown.clone();
    tokio::select! {
        r = copy(a, b, activity.clone()) => r,
        _ = activity.idle_for(limits.idle_timeout) => {
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "idle timeout"))
        }
        _ = async {
            crate::listener::signalled(&mut shutdown).await;
            tokio::time::sleep(limits.drain_timeout).await;
        } => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "drain timeout")),
    }
}

/// Copies both ways until both sides have closed; half-closes are passed on.
async fn copy<A, B>(a: A, b: B, activity: Activity) -> std::io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = tokio::io::split(b);
    let up = async {
        let n = copy::copy_counting(&mut ar, &mut bw, &activity).await?;
        bw.shutdown().await?;
        Ok::<u64, std::io::Error>(n)
    };
    let down = async {
        let n = copy::copy_counting(&mut br, &mut aw, &activity).await?;
        aw.shutdown().await?;
        Ok::<u64, std::io::Error>(n)
    };
    tokio::try_join!(up, down)
}
