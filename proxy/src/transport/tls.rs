//! TLS in user space (rustls), as a transport: the listener terminates it before detection,
//! and `upstream` originates it after connecting, so that every protocol path runs over it
//! unchanged.
//!
//! Which listeners terminate and which clusters originate is set with [`TlsSettings`]; the
//! certificates, SPIFFE identities and kernel offload (kTLS) that fill it come with the
//! identity work, from files and SDS.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{Io, Peer, Security};

/// The TLS a sidecar speaks, when any.
#[derive(Clone, Default)]
pub struct TlsSettings {
    /// Terminates TLS on the connections of inbound listeners.
    pub server: Option<Arc<ServerConfig>>,
    /// Originates TLS on upstream connections.
    pub client: Option<TlsClient>,
}

/// TLS towards upstream endpoints: the client configuration and the name to check the
/// server's certificate against.
#[derive(Clone)]
pub struct TlsClient {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// Completes the server side of a handshake on `stream` within `timeout`.
pub async fn accept(
    stream: TcpStream,
    config: &Arc<ServerConfig>,
    timeout: Duration,
) -> io::Result<(Io, Peer)> {
    let accepting = TlsAcceptor::from(Arc::clone(config)).accept(stream);
    let tls = tokio::time::timeout(timeout, accepting)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
    let certificates = tls
        .get_ref()
        .1
        .peer_certificates()
        .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect());
    let peer = Peer {
        security: Security::UserTls,
        certificates,
        identity: None,
    };
    Ok((Io::Tls(Box::new(tls.into())), peer))
}

/// Completes the client side of a handshake on a connected `stream`.
pub async fn connect(stream: TcpStream, client: &TlsClient) -> io::Result<Io> {
    let connector = TlsConnector::from(Arc::clone(&client.config));
    let tls = connector
        .connect(client.server_name.clone(), stream)
        .await?;
    Ok(Io::Tls(Box::new(tls.into())))
}
