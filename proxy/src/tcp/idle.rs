//! Idle tracking for opaque TCP: every copy bumps an activity counter; a watchdog fires when the
//! counter has not moved for a whole idle period.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const BUF: usize = 64 * 1024;

/// Copies until EOF, bumping `activity` after each chunk; returns bytes copied.
pub async fn copy_counting<R, W>(r: &mut R, w: &mut W, activity: &AtomicU64) -> std::io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        w.write_all(&buf[..n]).await?;
        total += n as u64;
        activity.fetch_add(1, Ordering::Relaxed);
    }
}

/// Resolves once `activity` has not changed for `idle`.
pub async fn expired(activity: &AtomicU64, idle: Duration) {
    let mut seen = activity.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(idle).await;
        let now = activity.load(Ordering::Relaxed);
        if now == seen {
            return;
        }
        seen = now;
    }
}
