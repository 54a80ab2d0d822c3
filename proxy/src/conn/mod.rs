//! The connection layer, below every protocol path: what one accepted connection knows about
//! itself ([`ConnCtx`]), the listener slot it holds ([`Slot`]), the drain signal
//! ([`signalled`]), the L4 denial ([`reset`]), its access record ([`record`]) and the byte
//! relay ([`relay`]) that opaque TCP and upgraded HTTP connections share.
//!
//! Why a layer of its own: the listener dispatches to the protocol paths (HTTP, TCP, and Kafka
//! and DNS next), and each path needs the connection's context. With that context in
//! `listener/`, every path imported the dispatcher that imported it back. Here it sits below
//! them all, as ztunnel keeps its connection record, drain and copy below `proxy/inbound` and
//! `outbound`. Nothing in this module imports a protocol path or the listener.

mod copy;
mod dial;
pub mod record;
pub mod relay;
mod slot;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use sockmesh_policy::{ConnMeta, Direction as PolicyDirection, L4Protocol};
use sockmesh_xds::domain::{Direction, Listener};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::bpf::Acceleration;
use crate::config::{HttpSettings, Limits};
use crate::metrics::Metrics;
use crate::policy_store::PolicyStore;
use crate::transport::{Peer, TlsSettings};
use crate::upstream::{Clusters, Pool, Target};

pub use dial::dial;
pub use relay::relay;
pub use slot::Slot;

/// State shared by every listener and connection.
pub struct Shared {
    pub policy: Arc<PolicyStore>,
    pub clusters: Clusters,
    pub pool: Arc<Pool>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    /// How requests are read before policy sees them.
    pub http: HttpSettings,
    /// How the DNS path answers and how much it holds.
    pub dns: crate::config::DnsSettings,
    /// Resolver exchanges the TCP DNS clients of all listeners have open (`dns.maxInflight`
    /// permits): each holds a socket, so pipelining clients cannot run the proxy out of them.
    pub dns_tcp_exchanges: tokio::sync::Semaphore,
    /// How much of a Kafka stream the proxy holds.
    pub kafka: crate::config::KafkaSettings,
    /// Topic ids learned from Metadata responses, for requests that name topics by id.
    pub kafka_topic_ids: crate::kafka::topic_ids::TopicIds,
    /// The listeners in front of each Kafka broker (explicit mode).
    pub kafka_brokers: crate::kafka::brokers::Brokers,
    pub accel: Acceleration,
    /// TLS the listeners terminate and the upstream connections originate, when set.
    pub tls: TlsSettings,
}

/// What a connection knows about itself; shared by all requests on it.
pub struct ConnCtx {
    pub shared: Arc<Shared>,
    pub listener: Arc<Listener>,
    pub client: SocketAddr,
    pub target: Target,
    pub shutdown: watch::Receiver<bool>,
    /// The client's identity as its transport established it (a TLS peer), if any.
    pub peer: Peer,
    /// Held for as long as anything serves this connection, including a WebSocket or other
    /// upgraded tunnel that outlives the HTTP connection task.
    _slot: Slot,
}

impl ConnCtx {
    pub fn new(
        shared: Arc<Shared>,
        listener: Arc<Listener>,
        client: SocketAddr,
        target: Target,
        shutdown: watch::Receiver<bool>,
        slot: Slot,
    ) -> ConnCtx {
        ConnCtx {
            shared,
            listener,
            client,
            target,
            shutdown,
            peer: Peer::default(),
            _slot: slot,
        }
    }

    /// The policy view of traffic to `endpoint`: inbound, the peer is the client and the port is
    /// the workload's; outbound, the peer and port are the remote's. The peer's identity rides
    /// along when its transport established one.
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
            identity: self.peer.identity,
        }
    }
}

/// IPv4-mapped IPv6 addresses are their IPv4 address, as policy CIDRs are written.
pub fn fold_mapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Resolves once the flag is (or already was) set; a dropped sender counts as set.
pub async fn signalled(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|set| *set).await;
}

/// Resolves `drain` after the sidecar starts draining: the latest a connection that still has
/// work in flight may run on.
pub async fn drained(rx: &mut watch::Receiver<bool>, drain: Duration) {
    signalled(rx).await;
    tokio::time::sleep(drain).await;
}

/// How long a draining connection still takes the requests that were on their way when the
/// drain began: an idle HTTP/1.1 connection stays open this long (a request that comes is
/// answered with `Connection: close`), and an HTTP/2 connection's final GOAWAY follows the
/// first (last stream id 2^31-1, RFC 9113 section 6.8) after the client answers a PING, or after
/// this long at most. Closing an idle keep-alive connection at once reset the requests clients
/// had already sent on it (5 to 11 of 20 such connections, 1 to 27 requests per SIGTERM under
/// wrk). A second covers a client's round trip and a busy client's delay before its next
/// request; the drain timeout, if shorter, wins.
pub const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// [`DRAIN_GRACE`] within the drain timeout.
pub fn drain_grace(limits: &Limits) -> Duration {
    DRAIN_GRACE.min(limits.drain_timeout)
}

/// Closes with a TCP RST (zero linger), the L4 denial clients recognise.
pub fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(std::time::Duration::ZERO));
    drop(stream);
}
