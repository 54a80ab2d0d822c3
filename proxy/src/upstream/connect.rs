//! The one way the proxy connects to an upstream endpoint: TCP with a timeout and
//! `TCP_NODELAY`, then TLS where the sidecar originates it. Opaque TCP, the fast paths' plain
//! HTTP/1.1 connections and hyper's pooled connections all come through here, so a transport
//! change (mTLS to a meshed peer, kernel TLS) is made once.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::transport::{self, Io, TlsClient};

/// Connects to upstream endpoints.
#[derive(Clone, Default)]
pub struct Connector {
    tls: Option<TlsClient>,
}

impl Connector {
    pub fn new(tls: Option<TlsClient>) -> Connector {
        Connector { tls }
    }

    /// A connection to `addr`, TLS set up where configured, within `timeout` in all.
    pub async fn connect(&self, addr: SocketAddr, timeout: Duration) -> std::io::Result<Io> {
        let connecting = async {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            match &self.tls {
                None => Ok(Io::Tcp(stream)),
                Some(tls) => transport::tls::connect(stream, tls).await,
            }
        };
        tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connect to {addr} timed out after {timeout:?}"),
                )
            })?
    }
}
