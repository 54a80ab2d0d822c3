//! Listeners: accept, find where the connection was going, set up its transport, apply L3/L4
//! policy, detect the protocol and hand the connection to its protocol path. This module only
//! dispatches: what a connection carries through every path lives in [`crate::conn`], how its
//! bytes travel in [`crate::transport`].
//!
//! One code path serves every interception mode: explicit (the app dials the sidecar and traffic
//! goes to the listener's cluster), eBPF (the original destination comes from the acceleration
//! handle) and iptables REDIRECT (`SO_ORIGINAL_DST`).

pub mod manager;
mod orig_dst;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use sockmesh_policy::{ConnVerdict, L7Kind};
use sockmesh_xds::domain::{Direction, Listener, ListenerProtocol};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::conn::{self, ConnCtx, Shared, Slot, signalled};
use crate::detect::{self, Detected};
use crate::metrics::{Protocol, VerdictLabel};
use crate::telemetry::ratelimit::warn_limited;
use crate::transport::{self, Io, Peer, PrefixedIo};
use crate::upstream::Target;

/// Accepts until `shutdown` flips, then takes what waits in the backlog and stops accepting
/// (connections drain on their own).
pub async fn serve(
    listener: TcpListener,
    config: Arc<Listener>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(shared.limits.max_connections));
    let mut failing = AcceptFailures::default();
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = signalled(&mut shutdown) => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = signalled(&mut shutdown) => break,
        };
        let (stream, client) = match accepted {
            Ok(a) => a,
            Err(error) => {
                // EMFILE and friends: the connection waits in the backlog while this task
                // sleeps; the connections already open keep being served meanwhile.
                let pause = failing.failed(&config.name, &error);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = signalled(&mut shutdown) => return,
                }
                continue;
            }
        };
        failing.recovered(&config.name);
        let slot = Slot::new(permit, Arc::clone(&shared.metrics));
        let accepted = Accepted {
            stream,
            client,
            listener: Arc::clone(&config),
            shared: Arc::clone(&shared),
            shutdown: shutdown.clone(),
            slot,
        };
        tokio::spawn(handle(accepted));
    }
    take_backlog(listener, &config, &shared, &shutdown, &permits);
}

/// [`serve`] as a boxed future: for listeners a connection opens (Kafka's per-broker ones),
/// whose future would otherwise contain itself.
pub fn serve_boxed(
    listener: TcpListener,
    config: Arc<Listener>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(serve(listener, config, shared, shutdown))
}

/// On shutdown, the connections the kernel completed that nobody accepted yet: their clients
/// may have sent a request before the listener closed, and closing it would reset them. They are
/// accepted (asked of the kernel, not of the reactor's readiness) and drain like the others.
fn take_backlog(
    listener: TcpListener,
    config: &Arc<Listener>,
    shared: &Arc<Shared>,
    shutdown: &watch::Receiver<bool>,
    permits: &Arc<Semaphore>,
) {
    // Non-blocking, as tokio left it: `accept` ends the loop with `WouldBlock`.
    let Ok(listener) = listener.into_std() else {
        return;
    };
    while let Ok((stream, client)) = listener.accept() {
        let Ok(permit) = Arc::clone(permits).try_acquire_owned() else {
            return;
        };
        let Ok(stream) = stream
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(stream))
        else {
            continue;
        };
        let accepted = Accepted {
            stream,
            client,
            listener: Arc::clone(config),
            shared: Arc::clone(shared),
            shutdown: shutdown.clone(),
            slot: Slot::new(permit, Arc::clone(&shared.metrics)),
        };
        tokio::spawn(handle(accepted));
    }
}

/// Accepts that failed in a row (out of descriptors, say): each waits twice as long as the one
/// before, from 10 ms up to 500 ms (nginx stops accepting for 500 ms on `EMFILE`), so a process
/// at its descriptor limit neither spins on a ready listener nor leaves a freed descriptor
/// unused for long; one line is logged when it starts, one when it ends.
#[derive(Default)]
struct AcceptFailures {
    count: u64,
}

impl AcceptFailures {
    const FIRST: std::time::Duration = std::time::Duration::from_millis(10);
    const MAX: std::time::Duration = std::time::Duration::from_millis(500);

    /// Records a failure; how long to wait before the next accept.
    fn failed(&mut self, listener: &str, error: &std::io::Error) -> std::time::Duration {
        if self.count == 0 {
            tracing::warn!(%listener, %error, "accept failed; retrying with a backoff");
        }
        self.count += 1;
        let doublings = u32::try_from(self.count - 1).unwrap_or(u32::MAX).min(6);
        (Self::FIRST * 2u32.pow(doublings)).min(Self::MAX)
    }

    fn recovered(&mut self, listener: &str) {
        if self.count > 0 {
            tracing::info!(%listener, failures = self.count, "accepting again");
            self.count = 0;
        }
    }
}

/// A connection just accepted, with its listener slot.
struct Accepted {
    stream: TcpStream,
    client: SocketAddr,
    listener: Arc<Listener>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    slot: Slot,
}

/// One connection: its context, its admission at L3/L4, its protocol, then its protocol path.
async fn handle(accepted: Accepted) {
    let Some((io, ctx)) = establish(accepted).await else {
        return;
    };
    let Some((mut io, endpoint, verdict)) = admit(io, &ctx) else {
        return;
    };
    if ctx.listener.protocol == ListenerProtocol::Dns {
        crate::dns::tcp::serve(PrefixedIo::new(bytes::Bytes::new(), io), ctx, endpoint).await;
        return;
    }
    // Kafka has no first bytes to detect it by (a length prefix): a port whose rules read Kafka
    // is Kafka on any listener, as a Kafka listener is whatever its rules.
    if ctx.listener.protocol == ListenerProtocol::Kafka || verdict.l7 == L7Kind::Kafka {
        let io = PrefixedIo::new(bytes::Bytes::new(), io);
        crate::kafka::conn::serve(io, ctx, endpoint, verdict.rule).await;
        return;
    }
    let Some((detected, prefix)) = detect_protocol(&mut io, &ctx, &verdict).await else {
        return;
    };
    dispatch(
        PrefixedIo::new(prefix.freeze(), io),
        ctx,
        endpoint,
        verdict,
        detected,
    )
    .await;
}

/// Finds where the connection was going and sets up its transport (TLS, where the listener
/// terminates it); `None` when neither can be had.
async fn establish(a: Accepted) -> Option<(Io, Arc<ConnCtx>)> {
    let _ = a.stream.set_nodelay(true);
    let Some(target) = resolve_target(&a.stream, a.client, &a.listener, &a.shared) else {
        warn_limited!(a.listener.name.as_str(), listener = %a.listener.name, client = %a.client, "no original destination and no cluster: closing");
        conn::reset(a.stream);
        return None;
    };
    let (io, peer) = match a.shared.tls.server.as_ref() {
        Some(config) if a.listener.direction == Direction::Inbound => {
            let timeout = a.shared.limits.detect_timeout;
            match transport::tls::accept(a.stream, config, timeout).await {
                Ok(done) => done,
                Err(error) => {
                    tracing::debug!(client = %a.client, %error, "TLS handshake failed");
                    return None;
                }
            }
        }
        _ => (Io::Tcp(a.stream), Peer::default()),
    };
    let mut ctx = ConnCtx::new(a.shared, a.listener, a.client, target, a.shutdown, a.slot);
    ctx.peer = peer;
    Some((io, Arc::new(ctx)))
}

/// The L3/L4 check: the endpoint the connection is checked against and the verdict; a denied
/// connection is reset and recorded here.
fn admit(io: Io, ctx: &ConnCtx) -> Option<(Io, SocketAddr, ConnVerdict)> {
    // An opaque TCP listener's connection takes its round-robin turn now; on the others, HTTP
    // requests each take one, so the connection check only looks at the next endpoint.
    let endpoint = match ctx.listener.protocol {
        ListenerProtocol::Tcp => ctx.target.pick(),
        _ => ctx.target.peek(),
    };
    let Some(endpoint) = endpoint else {
        io.reset();
        return None;
    };
    let verdict = check_connection(ctx, endpoint);
    if !verdict.allowed {
        deny_connection(ctx, io, endpoint, verdict.rule.as_str(), "");
        return None;
    }
    Some((io, endpoint, verdict))
}

/// What the listener or the client's first bytes say the protocol is, with the bytes read;
/// `None` when the client closed, failed, stayed quiet or shutdown came first.
async fn detect_protocol(
    io: &mut Io,
    ctx: &ConnCtx,
    verdict: &ConnVerdict,
) -> Option<(Detected, BytesMut)> {
    match ctx.listener.protocol {
        ListenerProtocol::Tcp => return Some((Detected::Opaque, BytesMut::new())),
        ListenerProtocol::Grpc => return Some((Detected::Http2, BytesMut::new())),
        ListenerProtocol::Detect
        | ListenerProtocol::Http
        | ListenerProtocol::Dns
        | ListenerProtocol::Kafka => {}
    }
    let limits = &ctx.shared.limits;
    // A port whose rules need HTTP has no server-first protocol to fall back to: a client that
    // connects ahead of its first request (preconnect, warm pools) may stay quiet until the idle
    // timeout, as on an HTTP connection between requests. Once it speaks, detection has its
    // usual deadline.
    let quiet = (verdict.l7 != L7Kind::None).then_some(limits.idle_timeout);
    let mut shutdown = ctx.shutdown.clone();
    // On shutdown a client that connected still has the drain grace for its first bytes, as
    // an idle keep-alive connection has for its next request.
    let detected = tokio::select! {
        d = detect::detect(io, quiet, limits.detect_timeout) => d,
        _ = async {
            signalled(&mut shutdown).await;
            tokio::time::sleep(conn::drain_grace(limits)).await;
        } => return None,
    };
    match detected {
        // Closed or quiet for the idle timeout on an L7 port: nothing to answer.
        Ok((_, buf)) if quiet.is_some() && buf.is_empty() => None,
        Ok((Detected::Opaque, buf)) if ctx.listener.protocol == ListenerProtocol::Http => {
            Some((Detected::Http1, buf))
        }
        Ok(found) => Some(found),
        Err(error) => {
            tracing::debug!(client = %ctx.client, %error, "connection failed during protocol detection");
            None
        }
    }
}

/// Hands the connection to the path its protocol takes.
async fn dispatch(
    io: PrefixedIo<Io>,
    ctx: Arc<ConnCtx>,
    endpoint: SocketAddr,
    verdict: ConnVerdict,
    detected: Detected,
) {
    match detected {
        Detected::Http1 => crate::http::serve_http1(io, ctx).await,
        Detected::Http2 => crate::http::serve_http2(io, ctx).await,
        Detected::Opaque if verdict.l7 != L7Kind::None => {
            // L7 rules on this port can only be checked on HTTP: refuse what we cannot inspect.
            let note = "l7 policy requires HTTP; traffic is not HTTP";
            deny_connection(&ctx, io.into_inner(), endpoint, verdict.rule.as_str(), note);
        }
        Detected::Opaque => match take_turn(&ctx, endpoint, verdict) {
            Ok((endpoint, verdict)) => crate::tcp::proxy(io, ctx, endpoint, verdict.rule).await,
            Err((endpoint, denied)) => {
                deny_connection(&ctx, io.into_inner(), endpoint, denied.rule.as_str(), "");
            }
        },
    }
}

/// A connection detected as opaque on a listener that is not `tcp` takes its round-robin turn
/// now, and is checked again if that turn gives another endpoint; `Err` if that one is denied.
fn take_turn(
    ctx: &ConnCtx,
    endpoint: SocketAddr,
    verdict: ConnVerdict,
) -> Result<(SocketAddr, ConnVerdict), (SocketAddr, ConnVerdict)> {
    if ctx.listener.protocol == ListenerProtocol::Tcp {
        return Ok((endpoint, verdict));
    }
    let taken = ctx.target.pick().unwrap_or(endpoint);
    if taken == endpoint {
        return Ok((endpoint, verdict));
    }
    let verdict = check_connection(ctx, taken);
    if verdict.allowed {
        Ok((taken, verdict))
    } else {
        Err((taken, verdict))
    }
}

fn check_connection(ctx: &ConnCtx, endpoint: SocketAddr) -> ConnVerdict {
    ctx.shared
        .policy
        .load()
        .check_connection(&ctx.meta(endpoint))
}

fn resolve_target(
    stream: &TcpStream,
    client: SocketAddr,
    listener: &Listener,
    shared: &Shared,
) -> Option<Target> {
    let local = stream.local_addr().ok()?;
    let original = shared.accel.original_dst(local, client).or_else(|| {
        (listener.direction == Direction::Outbound)
            .then(|| orig_dst::so_original_dst(stream, local))
            .flatten()
    });
    // A listener in front of one Kafka broker goes to that broker.
    let original = original.or_else(|| shared.kafka_brokers.upstream(&listener.name));
    match original {
        Some(addr) => Some(shared.clusters.original(addr)),
        None => listener
            .cluster
            .as_deref()
            .and_then(|name| shared.clusters.get(name))
            .map(Target::Cluster),
    }
}

fn deny_connection(ctx: &ConnCtx, io: Io, endpoint: SocketAddr, rule: &str, note: &str) {
    ctx.shared.metrics.count_connection(Protocol::Tcp);
    let zero = std::time::Duration::ZERO;
    conn::record::connection(ctx, endpoint, VerdictLabel::Deny, rule, (0, 0), zero, note);
    io.reset();
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::AcceptFailures;

    #[test]
    fn failed_accepts_back_off_to_half_a_second_and_start_over_once_one_succeeds() {
        let mut failures = AcceptFailures::default();
        let error = std::io::Error::from_raw_os_error(24);
        let pauses: Vec<u64> = (0..8)
            .map(|_| failures.failed("l", &error).as_millis() as u64)
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 500, 500]);
        failures.recovered("l");
        assert_eq!(failures.failed("l", &error), Duration::from_millis(10));
    }
}
