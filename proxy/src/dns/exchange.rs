//! One query to a resolver for a TCP client: over UDP first (a resolver's cheapest path), and
//! again over TCP when the answer is truncated or the query does not fit in a datagram. Each
//! exchange has its own socket (a fresh source port, connected to the resolver), so only the
//! resolver's address can answer it and the answer must carry the query's id and question.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use crate::failure::Failure;

use super::message::{MAX_MESSAGE, Query, truncated};

/// The largest query sent over UDP; a larger one goes over TCP at once.
const MAX_UDP_QUERY: usize = 4096;

/// The resolver's answer to `msg` (the query `query`), within `limit`.
pub(super) async fn exchange(
    resolver: SocketAddr,
    query: &Query,
    msg: &[u8],
    limit: Duration,
) -> Result<Vec<u8>, Failure> {
    let deadline = Instant::now() + limit;
    if msg.len() <= MAX_UDP_QUERY {
        let answer = timeout_at(deadline, over_udp(resolver, query, msg))
            .await
            .map_err(|_| Failure::UpstreamTimeout)??;
        if !truncated(&answer) {
            return Ok(answer);
        }
    }
    timeout_at(deadline, over_tcp(resolver, query, msg))
        .await
        .map_err(|_| Failure::UpstreamTimeout)?
}

async fn over_udp(resolver: SocketAddr, query: &Query, msg: &[u8]) -> Result<Vec<u8>, Failure> {
    let socket = UdpSocket::bind(super::any_local_for(resolver))
        .await
        .map_err(|_| Failure::Unreachable)?;
    socket
        .connect(resolver)
        .await
        .map_err(|_| Failure::Unreachable)?;
    socket
        .send(msg)
        .await
        .map_err(|_| Failure::UpstreamFailed)?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|_| Failure::UpstreamFailed)?;
        // Anything else on this port (a spoofed or stray datagram) is not the answer.
        if query.is_answered_by(query.id, &buf[..n]) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn over_tcp(resolver: SocketAddr, query: &Query, msg: &[u8]) -> Result<Vec<u8>, Failure> {
    let len = u16::try_from(msg.len()).map_err(|_| Failure::BadRequest("query too large"))?;
    let mut stream = TcpStream::connect(resolver)
        .await
        .map_err(|_| Failure::Unreachable)?;
    let _ = stream.set_nodelay(true);
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    stream
        .write_all(&out)
        .await
        .map_err(|_| Failure::UpstreamFailed)?;
    loop {
        let n = usize::from(
            stream
                .read_u16()
                .await
                .map_err(|_| Failure::UpstreamFailed)?,
        );
        let mut answer = vec![0u8; n];
        stream
            .read_exact(&mut answer)
            .await
            .map_err(|_| Failure::UpstreamFailed)?;
        if query.is_answered_by(query.id, &answer) {
            return Ok(answer);
        }
    }
}
