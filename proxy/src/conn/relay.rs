//! The byte relay: opaque TCP, and HTTP connections after a protocol upgrade (WebSocket), copy
//! both ways until both sides have closed, the connection has been idle for `idleTimeout`, or a
//! shutdown's `drainTimeout` has run out.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::{ConnCtx, copy, drained};
use crate::transport::activity::Activity;

/// Relays bytes between `a` and `b`; returns the bytes copied each way (a to b, b to a).
pub async fn relay<A, B>(a: A, b: B, ctx: &ConnCtx) -> std::io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let limits = &ctx.shared.limits;
    let activity = Activity::default();
    let mut shutdown = ctx.shutdown.clone();
    tokio::select! {
        r = both_ways(a, b, activity.clone()) => r,
        _ = activity.idle_for(limits.idle_timeout) => {
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "idle timeout"))
        }
        _ = drained(&mut shutdown, limits.drain_timeout) => {
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "drain timeout"))
        }
    }
}

/// Copies both ways until both sides have closed; half-closes are passed on.
async fn both_ways<A, B>(a: A, b: B, activity: Activity) -> std::io::Result<(u64, u64)>
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
