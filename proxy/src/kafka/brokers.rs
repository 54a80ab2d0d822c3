//! A sidecar listener in front of each broker, for explicit mode: the addresses Metadata,
//! FindCoordinator and DescribeCluster responses give clients are replaced by these
//! ([`super::addresses`]), so every connection a client opens after the bootstrap one goes
//! through the sidecar too.
//!
//! Broker `n` of the cluster behind listener `L` gets `L`'s address with port `L.port + 1 + n`
//! (kroxylicious's port-per-broker scheme), opened the first time a response names it and
//! stopped with `L`; its connections go to the address the broker advertised, through the same
//! Kafka path and policy as `L`'s; at most [`MAX_BROKERS_PER_LISTENER`] per listener. With
//! interception (an original destination) nothing is replaced: the client's connections to the
//! brokers' own addresses are captured anyway.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};

use sockmesh_xds::domain::{Listener, ListenerProtocol};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::conn::Shared;
use crate::telemetry::ratelimit::warn_limited;

use super::addresses::Advertised;
use super::broker_names::BrokerNames;

/// The most broker listeners one Kafka listener opens: a broker advertising more nodes (a bug,
/// or a hostile one) cannot make the sidecar open a port per id it invents. Past it, the
/// other nodes are given the bootstrap listener.
pub const MAX_BROKERS_PER_LISTENER: usize = 256;

/// The broker listeners the sidecar runs, by listener name.
#[derive(Debug, Default)]
pub struct Brokers {
    routes: RwLock<HashMap<String, Route>>,
    /// One opening at a time: two connections naming the same broker open one listener.
    opening: tokio::sync::Mutex<()>,
    /// Advertised host names, resolved.
    names: BrokerNames,
}

#[derive(Debug, Clone)]
struct Route {
    /// The listener this one fronts a broker for.
    parent: Arc<Listener>,
    upstream: SocketAddr,
    address: SocketAddr,
    stopped: watch::Receiver<bool>,
}

impl Brokers {
    /// Where a broker listener's connections go; `None` for other listeners.
    pub fn upstream(&self, listener: &str) -> Option<SocketAddr> {
        self.read().get(listener).map(|r| r.upstream)
    }

    /// The listener whose port numbering `listener`'s brokers follow: its parent when it is a
    /// broker listener, else itself.
    pub fn base(&self, listener: &Arc<Listener>) -> Arc<Listener> {
        self.read()
            .get(&listener.name)
            .map_or_else(|| Arc::clone(listener), |r| Arc::clone(&r.parent))
    }

    /// The sidecar address in front of `node` of `base`'s cluster, opening its listener on
    /// first use; `None` when it cannot be had (logged).
    pub async fn front(
        &self,
        shared: &Arc<Shared>,
        base: &Arc<Listener>,
        node: &Advertised,
        stop: &watch::Receiver<bool>,
    ) -> Option<SocketAddr> {
        let name = format!("{}~broker-{}", base.name, node.node_id);
        let port = u16::try_from(node.port).ok()?;
        let upstream = self.names.resolve(&node.host, port).await?;
        // A broker set to advertise the sidecar (as behind any proxy) already sends clients here.
        if upstream == base.address || self.read().values().any(|r| r.address == upstream) {
            return Some(upstream);
        }
        let _one = self.opening.lock().await;
        if let Some(route) = self.write().get_mut(&name)
            && !*route.stopped.borrow()
        {
            route.upstream = upstream;
            return Some(route.address);
        }
        let opened = self
            .read()
            .values()
            .filter(|r| r.parent.name == base.name && !*r.stopped.borrow())
            .count();
        if opened >= MAX_BROKERS_PER_LISTENER {
            warn_limited!(base.name.clone(), listener = %base.name, limit = MAX_BROKERS_PER_LISTENER, "a Kafka cluster advertises more brokers than the sidecar opens listeners for; the others are sent to the bootstrap listener");
            return None;
        }
        let address = address_for(base.address, node.node_id)?;
        let socket = match TcpListener::bind(address).await {
            Ok(s) => s,
            Err(error) => {
                warn_limited!(name.clone(), listener = %name, %address, %error, "cannot open the listener in front of a Kafka broker; the client is sent to the bootstrap listener");
                return None;
            }
        };
        let spec = Arc::new(Listener {
            name: name.clone(),
            address,
            direction: base.direction,
            protocol: ListenerProtocol::Kafka,
            cluster: None,
        });
        tracing::info!(listener = %name, %address, broker = %upstream, "listening in front of a Kafka broker");
        self.write().insert(
            name,
            Route {
                parent: Arc::clone(base),
                upstream,
                address,
                stopped: stop.clone(),
            },
        );
        tokio::spawn(crate::listener::serve_boxed(
            socket,
            spec,
            Arc::clone(shared),
            stop.clone(),
        ));
        Some(address)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Route>> {
        self.routes.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Route>> {
        self.routes.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Broker `node_id`'s listener address: `base`'s IP (loopback for an unspecified one) and port
/// `base.port + 1 + node_id`; `None` when that is no port.
pub fn address_for(base: SocketAddr, node_id: i32) -> Option<SocketAddr> {
    if base.port() == 0 {
        return None;
    }
    let port = i64::from(base.port()) + 1 + i64::from(node_id);
    let port = u16::try_from(port).ok()?;
    let ip = match base.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::address_for;

    #[test]
    fn broker_ports_follow_the_listener_port() {
        let base = "127.0.0.1:9092".parse().expect("addr");
        assert_eq!(address_for(base, 0), "127.0.0.1:9093".parse().ok());
        assert_eq!(address_for(base, 7), "127.0.0.1:9100".parse().ok());
        assert_eq!(address_for(base, 70_000), None);
        assert_eq!(address_for("0.0.0.0:0".parse().expect("addr"), 1), None);
        assert_eq!(
            address_for("0.0.0.0:10".parse().expect("addr"), 1),
            "127.0.0.1:12".parse().ok()
        );
    }
}
