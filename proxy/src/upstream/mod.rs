//! Upstreams: clusters of endpoints, the choice of endpoint per connection or request, and the
//! pooled HTTP connections to them.
//!
//! The cluster set is swapped atomically, so a control plane (or a config reload) can change
//! endpoints while requests are in flight.

mod body;
mod connect;
mod idle_clock;
mod pool;
mod preface;
mod raw;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use sockmesh_xds::domain::{Cluster, UpstreamProtocol};

pub use body::UpstreamBody;
pub use connect::Connector;
pub use pool::{HttpVersion, NOT_HTTP2_FOR, Pool, UpBody, UpstreamError};
pub use preface::Answer;
pub use raw::RawConn;

/// One cluster and its round-robin cursor.
#[derive(Debug)]
pub struct ClusterState {
    pub cluster: Cluster,
    next: AtomicUsize,
}

impl ClusterState {
    pub fn new(cluster: Cluster) -> ClusterState {
        ClusterState {
            cluster,
            next: AtomicUsize::new(0),
        }
    }

    /// The next endpoint, round-robin. Validated clusters always have at least one.
    pub fn pick(&self) -> Option<SocketAddr> {
        self.endpoint(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// The endpoint the next `pick` returns, without taking the turn.
    pub fn peek(&self) -> Option<SocketAddr> {
        self.endpoint(self.next.load(Ordering::Relaxed))
    }

    fn endpoint(&self, turn: usize) -> Option<SocketAddr> {
        let eps = &self.cluster.endpoints;
        eps.get(turn.checked_rem(eps.len())?).copied()
    }
}

/// Where a downstream connection's traffic goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// The destination the client originally dialed (interception).
    Original(SocketAddr),
    /// A configured cluster (explicit mode).
    Cluster(Arc<ClusterState>),
}

impl Target {
    pub fn pick(&self) -> Option<SocketAddr> {
        match self {
            Target::Original(addr) => Some(*addr),
            Target::Cluster(c) => c.pick(),
        }
    }

    /// The endpoint `pick` would return next, without taking the turn: for the connection-level
    /// check of a connection whose requests each pick their own endpoint.
    pub fn peek(&self) -> Option<SocketAddr> {
        match self {
            Target::Original(addr) => Some(*addr),
            Target::Cluster(c) => c.peek(),
        }
    }

    pub fn connect_timeout(&self) -> Duration {
        match self {
            Target::Original(_) => Cluster::DEFAULT_CONNECT_TIMEOUT,
            Target::Cluster(c) => c.cluster.connect_timeout,
        }
    }

    pub fn protocol(&self) -> UpstreamProtocol {
        match self {
            Target::Original(_) => UpstreamProtocol::Auto,
            Target::Cluster(c) => c.cluster.protocol,
        }
    }
}

/// All clusters by name; replaced whole on change.
#[derive(Default)]
pub struct Clusters(ArcSwap<HashMap<String, Arc<ClusterState>>>);

impl Clusters {
    pub fn new(clusters: &[Cluster]) -> Clusters {
        let c = Clusters::default();
        c.replace(clusters);
        c
    }

    pub fn get(&self, name: &str) -> Option<Arc<ClusterState>> {
        self.0.load().get(name).cloned()
    }

    /// Replaces the set; clusters whose definition did not change keep their cursor.
    pub fn replace(&self, clusters: &[Cluster]) {
        let old = self.0.load();
        let map = clusters
            .iter()
            .map(|c| {
                let state = match old.get(&c.name) {
                    Some(s) if s.cluster == *c => s.clone(),
                    _ => Arc::new(ClusterState::new(c.clone())),
                };
                (c.name.clone(), state)
            })
            .collect();
        self.0.store(Arc::new(map));
    }

    pub fn snapshot(&self) -> Vec<Cluster> {
        let mut v: Vec<Cluster> = self.0.load().values().map(|s| s.cluster.clone()).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_shows_the_next_turn_without_taking_it() {
        let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let b: SocketAddr = "127.0.0.1:2".parse().expect("addr");
        let c = ClusterState::new(Cluster {
            name: "web".into(),
            endpoints: vec![a, b],
            connect_timeout: Cluster::DEFAULT_CONNECT_TIMEOUT,
            protocol: UpstreamProtocol::Auto,
        });
        // A connection check (peek) followed by its one request (pick), twice: both endpoints
        // get a request, in order.
        assert_eq!((c.peek(), c.pick()), (Some(a), Some(a)));
        assert_eq!((c.peek(), c.pick()), (Some(b), Some(b)));
        let empty = ClusterState::new(Cluster {
            endpoints: Vec::new(),
            ..c.cluster.clone()
        });
        assert_eq!((empty.peek(), empty.pick()), (None, None));
    }
}
