//! The I/O type every accepted connection travels in after detection: it replays the bytes
//! detection already read before reading on, and (when asked) counts activity for idle timeouts.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::activity::Activity;

pin_project_lite::pin_project! {
    /// `prefix` is read first, then `inner`; writes go straight to `inner`. With an [`Activity`],
    /// every read or write that moves bytes bumps it.
    #[derive(Debug)]
    pub struct PrefixedIo<I> {
        prefix: Bytes,
        #[pin]
        inner: I,
        activity: Option<Activity>,
    }
}

impl<I> PrefixedIo<I> {
    pub fn new(prefix: Bytes, inner: I) -> Self {
        PrefixedIo {
            prefix,
            inner,
            activity: None,
        }
    }

    /// Counts this connection's traffic in `activity` from now on.
    pub fn track(mut self, activity: Activity) -> Self {
        self.activity = Some(activity);
        self
    }

    /// The prefix bytes not yet read, and the inner stream.
    pub fn into_parts(self) -> (Bytes, I) {
        (self.prefix, self.inner)
    }

    /// The inner stream; bytes of the prefix not yet read are dropped.
    pub fn into_inner(self) -> I {
        self.inner
    }
}

fn bump(activity: &Option<Activity>) {
    if let Some(a) = activity {
        a.bump();
    }
}

impl<I: AsyncRead> AsyncRead for PrefixedIo<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            bump(this.activity);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            bump(this.activity);
        }
        r
    }
}

impl<I: AsyncWrite> AsyncWrite for PrefixedIo<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let r = this.inner.poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            bump(this.activity);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let r = this.inner.poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            bump(this.activity);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
