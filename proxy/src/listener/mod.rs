//! Listeners: accept, find where the connection was going, apply L3/L4 policy, detect the
//! protocol and hand the connection to the HTTP or TCP path.
//!
//! One code path serves every interception mode: explicit (the app dials the sidecar and traffic
//! goes to the listener's cluster), eBPF (the original destination comes from the acceleration
//! handle) and iptables REDIRECT (`SO_ORIGINAL_DST`).

pub mod manager;
mod orig_dst;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use sockmesh_policy::{ConnMeta, ConnVerdict, Direction as PolicyDirection, L4Protocol, L7Kind};
use sockmesh_xds::domain::{Direction, Listener, ListenerProtocol};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::bpf::Acceleration;
use crate::config::Limits;
use crate::detect::{self, Detected};
use crate::metrics::{Metrics, Protocol, VerdictLabel};
use crate::policy_store::PolicyStore;
use crate::upstream::{Clusters, Pool, Target};

/// State shared by every listener and connection.
pub struct Shared {
    pub policy: Arc<PolicyStore>,
    pub clusters: Clusters,
    pub pool: Arc<Pool>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    pub accel: Acceleration,
}

/// What a connection knows about itself; shared by all requests on it.
pub struct ConnCtx {
    pub shared: Arc<Shared>,
    pub listener: Arc<Listener>,
    pub client: SocketAddr,
    pub target: Target,
    pub shutdown: watch::Receiver<bool>,
    /// Held for as long as anything serves this connection, including a WebSocket or other
    /// upgraded tunnel that outlives the HTTP connection task.
    _slot: Slot,
}

/// One of the listener's connection slots, counted in `downstream_active` (which the drain on
/// shutdown waits for) until dropped.
struct Slot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, metrics: Arc<Metrics>) -> Slot {
        metrics.downstream_active.inc();
        Slot {
            _permit: permit,
            metrics,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.metrics.downstream_active.dec();
    }
}

impl ConnCtx {
    /// The policy view of traffic to `endpoint`: inbound, the peer is the client and the port is
    /// the workload's; outbound, the peer and port are the remote's.
    pub fn meta(&self, endpoint: SocketAddr) -> ConnMeta {
        let (direction, peer) = match self.listener.direction {
            Direction::Inbound => (PolicyDirection::Ingress, self.client.ip()),
            Direction::Outbound => (PolicyDirection::Egress, endpoint.ip()),
        };
        ConnMeta {
            direction,
            peer: fold_mapped(peer),
            port: endpoint.port(),
            protocol: L4Protocol::Tcp,
        }
    }
}

fn fold_mapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Accepts until `shutdown` flips, then stops accepting (connections drain on their own).
pub async fn serve(
    listener: TcpListener,
    config: Arc<Listener>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(shared.limits.max_connections));
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = signalled(&mut shutdown) => return,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = signalled(&mut shutdown) => return,
        };
        let (stream, client) = match accepted {
            Ok(a) => a,
            Err(error) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(listener = %config.name, %error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let config = Arc::clone(&config);
        let shutdown = shutdown.clone();
        let slot = Slot::new(permit, Arc::clone(&shared.metrics));
        tokio::spawn(handle(stream, client, config, shared, shutdown, slot));
    }
}

async fn handle(
    stream: TcpStream,
    client: SocketAddr,
    listener: Arc<Listener>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    let Some(target) = resolve_target(&stream, client, &listener, &shared) else {
        tracing::warn!(listener = %listener.name, %client, "no original destination and no cluster: closing");
        reset(stream);
        return;
    };
    let ctx = Arc::new(ConnCtx {
        shared,
        listener,
        client,
        target,
        shutdown,
        _slot: slot,
    });
    // An opaque TCP listener's connection takes its round-robin turn now; on the others, HTTP
    // requests each take one, so the connection check only looks at the next endpoint.
    let endpoint = match ctx.listener.protocol {
        ListenerProtocol::Tcp => ctx.target.pick(),
        _ => ctx.target.peek(),
    };
    let Some(mut endpoint) = endpoint else {
        reset(stream);
        return;
    };
    let mut verdict = check_connection(&ctx, endpoint);
    if !verdict.allowed {
        deny_connection(&ctx, stream, endpoint, verdict.rule.as_str(), "");
        return;
    }
    let limits = &ctx.shared.limits;
    let mut stream = stream;
    let (detected, prefix) = match ctx.listener.protocol {
        ListenerProtocol::Tcp => (Detected::Opaque, Default::default()),
        ListenerProtocol::Grpc => (Detected::Http2, Default::default()),
        ListenerProtocol::Detect | ListenerProtocol::Http => {
            // A port whose rules need HTTP has no server-first protocol to fall back to: a client
            // that connects ahead of its first request (preconnect, warm pools) may stay quiet
            // until the idle timeout, as on an HTTP connection between requests. Once it speaks,
            // detection has its usual deadline.
            let mut shutdown = ctx.shutdown.clone();
            if verdict.l7 != L7Kind::None {
                let mut first = [0u8; 1];
                tokio::select! {
                    r = tokio::time::timeout(limits.idle_timeout, stream.peek(&mut first)) => {
                        // Closed, failed or quiet for the idle timeout: nothing to answer.
                        if !matches!(r, Ok(Ok(1..))) {
                            return;
                        }
                    }
                    _ = signalled(&mut shutdown) => return,
                }
            }
            let detected = tokio::select! {
                d = detect::detect(&mut stream, limits.detect_timeout) => d,
                _ = signalled(&mut shutdown) => return,
            };
            match detected {
                Ok((Detected::Opaque, buf)) if ctx.listener.protocol == ListenerProtocol::Http => {
                    (Detected::Http1, buf)
                }
                Ok(found) => found,
                Err(error) => {
                    tracing::debug!(%client, %error, "connection failed during protocol detection");
                    return;
                }
            }
        }
    };
    let io = detect::PrefixedIo::new(prefix.freeze(), stream);
    match detected {
        Detected::Http1 => crate::http::serve_http1(io, ctx).await,
        Detected::Http2 => crate::http::serve_http2(io, ctx).await,
        Detected::Opaque if verdict.l7 != L7Kind::None => {
            // L7 rules on this port can only be checked on HTTP: refuse what we cannot inspect.
            let stream = io.into_inner();
            deny_connection(
                &ctx,
                stream,
                endpoint,
                verdict.rule.as_str(),
                "l7 policy requires HTTP; traffic is not HTTP",
            );
        }
        Detected::Opaque => {
            if ctx.listener.protocol != ListenerProtocol::Tcp {
                // Detected as opaque: take the turn, and check the endpoint it gives.
                let taken = ctx.target.pick().unwrap_or(endpoint);
                if taken != endpoint {
                    endpoint = taken;
                    verdict = check_connection(&ctx, endpoint);
                    if !verdict.allowed {
                        let stream = io.into_inner();
                        deny_connection(&ctx, stream, endpoint, verdict.rule.as_str(), "");
                        return;
                    }
                }
            }
            crate::tcp::proxy(io, ctx, endpoint, verdict.rule).await
        }
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
    match original {
        Some(addr) => Some(Target::Original(addr)),
        None => listener
            .cluster
            .as_deref()
            .and_then(|name| shared.clusters.get(name))
            .map(Target::Cluster),
    }
}

fn deny_connection(ctx: &ConnCtx, stream: TcpStream, endpoint: SocketAddr, rule: &str, note: &str) {
    ctx.shared.metrics.count_connection(Protocol::Tcp);
    crate::tcp::record(
        ctx,
        endpoint,
        VerdictLabel::Deny,
        rule,
        (0, 0),
        std::time::Duration::ZERO,
        note,
    );
    reset(stream);
}

/// Resolves once the flag is (or already was) set; a dropped sender counts as set.
pub async fn signalled(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|set| *set).await;
}

/// Closes with a TCP RST (zero linger), the L4 denial clients recognise.
pub fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(std::time::Duration::ZERO));
    drop(stream);
}
