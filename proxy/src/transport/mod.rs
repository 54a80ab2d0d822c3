//! Transports: how a connection's bytes travel, below every protocol path.
//!
//! The listener hands each protocol path an [`Io`], and `upstream` connects to one: plain TCP,
//! TCP whose record crypto the kernel does (kTLS: still a socket, so the fast paths keep
//! reading and writing it directly, and the sockmap programs still see plaintext), or TLS in
//! user space (rustls). The protocol paths never ask which; what the transport learned about
//! the peer (its certificate chain, and later its identity) rides in [`Peer`], in the
//! connection's context, up to policy's `ConnMeta`.
//!
//! Why an enum and not a trait object: the HTTP/1.1 fast path makes about four socket calls
//! per request, and on a plain socket each one stays a direct `TcpStream` call (a branch on
//! the variant), with vectored writes kept for hyper.

/// Runs `$body` on whichever variant (`Tcp` or `Tls`) of `$enum` `$value` is, bound to `$s`:
/// the transports' delegation of each I/O call.
macro_rules! dispatch {
    ($value:expr, $enum:ident, $s:ident => $body:expr) => {
        match $value {
            $enum::Tcp($s) => $body,
            $enum::Tls($s) => $body,
        }
    };
}

pub mod activity;
mod io;
mod prefixed;
mod split;
pub mod tls;

use std::sync::Arc;

use rustls::pki_types::CertificateDer;

pub use io::Io;
pub use prefixed::PrefixedIo;
pub use tls::{TlsClient, TlsSettings};

/// How a connection's records are protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Security {
    /// Plain text on the wire.
    #[default]
    Plain,
    /// TLS with record crypto in the kernel (kTLS): the socket reads and writes plaintext.
    KernelTls,
    /// TLS in user space (rustls).
    UserTls,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Plain => "plain",
            Security::KernelTls => "ktls",
            Security::UserTls => "tls",
        }
    }
}

/// What the transport established about the peer.
#[derive(Clone, Debug, Default)]
pub struct Peer {
    pub security: Security,
    /// The certificate chain the peer presented in a TLS handshake, leaf first.
    pub certificates: Option<Arc<[CertificateDer<'static>]>>,
    /// The peer's security identity, once one is established for it (from its certificate, or
    /// the address-to-identity table): what identity selectors in policy match.
    pub identity: Option<sockmesh_policy::Identity>,
}

/// Writes all of `bytes` and flushes: on a socket the flush is free, while user-space TLS may
/// keep the last records of a write buffered until flushed. Every path that writes an [`Io`]
/// (or a stream over one) without hyper writes through this.
pub async fn send<W>(w: &mut W, bytes: &[u8]) -> std::io::Result<()>
where
    W: tokio::io::AsyncWrite + Unpin + ?Sized,
{
    use tokio::io::AsyncWriteExt;
    w.write_all(bytes).await?;
    w.flush().await
}
