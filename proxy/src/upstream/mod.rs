//! Upstreams: clusters of endpoints, the choice of endpoint per connection or request, and the
//! pooled HTTP connections to them.
//!
//! The cluster set is swapped atomically, so a control plane (or a config reload) can change
//! endpoints while requests are in flight.

mod body;
mod breaker;
mod connect;
mod idle_clock;
mod pool;
mod preface;
mod raw;
mod share;
mod trailers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use sockmesh_xds::domain::{CircuitBreakers, Cluster, UpstreamProtocol};

use crate::metrics::Metrics;

pub use body::{UpBody, UpstreamBody};
pub use breaker::Breaker;
pub use connect::Connector;
pub use pool::{HttpVersion, NOT_HTTP2_FOR, Pool, UpstreamError};
pub use preface::Answer;
pub use raw::RawConn;
pub use share::Share;
pub use trailers::{Checked, TrailerCheck, TrailersRefused};

/// One cluster, its round-robin cursor and its circuit breakers.
pub struct ClusterState {
    pub cluster: Cluster,
    next: AtomicUsize,
    pub breaker: Arc<Breaker>,
}

impl ClusterState {
    pub fn new(cluster: Cluster, breaker: Arc<Breaker>) -> ClusterState {
        ClusterState {
            cluster,
            next: AtomicUsize::new(0),
            breaker,
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
#[derive(Clone)]
pub enum Target {
    /// The destination the client originally dialed (interception), under the breakers all
    /// original destinations share (Envoy's `ORIGINAL_DST` cluster is one cluster too).
    Original(SocketAddr, Arc<Breaker>),
    /// A configured cluster (explicit mode).
    Cluster(Arc<ClusterState>),
}

impl Target {
    pub fn pick(&self) -> Option<SocketAddr> {
        match self {
            Target::Original(addr, _) => Some(*addr),
            Target::Cluster(c) => c.pick(),
        }
    }

    /// The circuit breakers requests to this target count against.
    pub fn breaker(&self) -> &Arc<Breaker> {
        match self {
            Target::Original(_, breaker) => breaker,
            Target::Cluster(c) => &c.breaker,
        }
    }

    /// The endpoint `pick` would return next, without taking the turn: for the connection-level
    /// check of a connection whose requests each pick their own endpoint.
    pub fn peek(&self) -> Option<SocketAddr> {
        match self {
            Target::Original(addr, _) => Some(*addr),
            Target::Cluster(c) => c.peek(),
        }
    }

    pub fn connect_timeout(&self) -> Duration {
        match self {
            Target::Original(..) => Cluster::DEFAULT_CONNECT_TIMEOUT,
            Target::Cluster(c) => c.cluster.connect_timeout,
        }
    }

    pub fn protocol(&self) -> UpstreamProtocol {
        match self {
            Target::Original(..) => UpstreamProtocol::Auto,
            Target::Cluster(c) => c.cluster.protocol,
        }
    }
}

/// All clusters by name; replaced whole on change.
pub struct Clusters {
    map: ArcSwap<HashMap<String, Arc<ClusterState>>>,
    /// The breakers of original destinations (interception), with the default caps.
    original: Arc<Breaker>,
    metrics: Arc<Metrics>,
}

/// The name the original destinations' breakers are counted under.
const ORIGINAL_DST: &str = "original-destination";

impl Clusters {
    pub fn new(clusters: &[Cluster], metrics: Arc<Metrics>) -> Clusters {
        let c = Clusters {
            map: ArcSwap::default(),
            original: Breaker::new(ORIGINAL_DST, CircuitBreakers::default(), &metrics),
            metrics,
        };
        c.replace(clusters);
        c
    }

    pub fn get(&self, name: &str) -> Option<Arc<ClusterState>> {
        self.map.load().get(name).cloned()
    }

    /// Where an intercepted connection to `addr` goes.
    pub fn original(&self, addr: SocketAddr) -> Target {
        Target::Original(addr, Arc::clone(&self.original))
    }

    /// Replaces the set; clusters whose definition did not change keep their cursor, and those
    /// whose caps did not change keep their breakers (and what is counted against them).
    pub fn replace(&self, clusters: &[Cluster]) {
        let old = self.map.load();
        let map = clusters
            .iter()
            .map(|c| {
                let state = match old.get(&c.name) {
                    Some(s) if s.cluster == *c => s.clone(),
                    Some(s) if s.breaker.limits() == c.circuit_breakers => {
                        Arc::new(ClusterState::new(c.clone(), Arc::clone(&s.breaker)))
                    }
                    _ => Arc::new(ClusterState::new(
                        c.clone(),
                        Breaker::new(&c.name, c.circuit_breakers, &self.metrics),
                    )),
                };
                (c.name.clone(), state)
            })
            .collect();
        self.map.store(Arc::new(map));
    }

    pub fn snapshot(&self) -> Vec<Cluster> {
        let mut v: Vec<Cluster> = self
            .map
            .load()
            .values()
            .map(|s| s.cluster.clone())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

#[cfg(test)]
mod tests;
