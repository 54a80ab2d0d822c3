//! The copy loop of the relay, bumping the connection's activity counter for the idle timeout.

use crate::transport::send;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::transport::activity::Activity;

const BUF: usize = 64 * 1024;

/// Copies until EOF, bumping `activity` after each chunk; returns bytes copied.
pub async fn copy_counting<R, W>(r: &mut R, w: &mut W, activity: &Activity) -> std::io::Result<u64>
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
        send(w, &buf[..n]).await?;
        total += n as u64;
        activity.bump();
    }
}
