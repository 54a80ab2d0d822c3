//! [`Io`]: one connection's byte stream, whatever carries it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

/// A connection's bytes: a socket (plain, or with kernel TLS), or TLS in user space over one.
#[derive(Debug)]
pub enum Io {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl From<TcpStream> for Io {
    fn from(stream: TcpStream) -> Io {
        Io::Tcp(stream)
    }
}

impl Io {
    /// The socket underneath: for its addresses and options, never for its bytes (a TLS
    /// stream's are ciphertext).
    pub fn socket(&self) -> &TcpStream {
        match self {
            Io::Tcp(s) => s,
            Io::Tls(s) => s.get_ref().0,
        }
    }

    /// Writes what the transport takes without waiting: on a socket, a plain non-blocking
    /// `send`; over user-space TLS nothing (`WouldBlock`), so the caller's ordinary
    /// asynchronous write does the work.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Io::Tcp(s) => s.try_write(buf),
            Io::Tls(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Whether an idle connection is still open with nothing to read: a close, or stray bytes,
    /// mean the peer is done with it. On a socket the reactor's cached readiness answers
    /// without a system call (and without touching the waker registered for the next read),
    /// except when it still says readable from the last exchange; then one non-blocking read
    /// decides. Over TLS one poll decides: a session ticket is consumed by rustls and reads as
    /// nothing, while plaintext, a close or an error is not idle.
    pub fn is_idle_and_open(&mut self) -> bool {
        match self {
            Io::Tcp(s) => {
                let mut probe = [0u8; 1];
                matches!(s.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            Io::Tls(s) => {
                let mut probe = [0u8; 1];
                let mut buf = ReadBuf::new(&mut probe);
                let mut cx = Context::from_waker(std::task::Waker::noop());
                Pin::new(s.as_mut())
                    .poll_read(&mut cx, &mut buf)
                    .is_pending()
            }
        }
    }

    /// Whether bytes from the peer wait in the socket: asked of the kernel (a peek), not of the
    /// reactor's cached readiness, which may not have seen them yet. Over TLS these are records
    /// not yet decrypted.
    pub fn has_input(&self) -> bool {
        let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        let flags = libc::MSG_PEEK | libc::MSG_DONTWAIT;
        matches!(
            socket2::SockRef::from(self.socket()).recv_with_flags(&mut probe, flags),
            Ok(n) if n > 0
        )
    }

    /// Closes with a TCP RST (zero linger), the L4 denial clients recognise.
    pub fn reset(self) {
        let _ = socket2::SockRef::from(self.socket()).set_linger(Some(std::time::Duration::ZERO));
    }
}

impl AsyncRead for Io {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        dispatch!(self.get_mut(), Io, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Io {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        dispatch!(self.get_mut(), Io, s => Pin::new(s).poll_write(cx, buf))
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        dispatch!(self.get_mut(), Io, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        dispatch!(self, Io, s => s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        dispatch!(self.get_mut(), Io, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        dispatch!(self.get_mut(), Io, s => Pin::new(s).poll_shutdown(cx))
    }
}
